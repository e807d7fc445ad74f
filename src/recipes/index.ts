/** Recipe schemas, loading with path-naming errors, and compilation into workflows. */
export * from "./compile-recipe.js"
export * from "./decode-recipe.js"
export * from "./load-recipe.js"
export * from "./recipe-error.js"
export * from "./recipe-hash.js"
export * from "./schema-fields.js"
export * from "./supervised-recipe.js"
