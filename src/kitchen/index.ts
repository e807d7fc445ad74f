/**
 * The composition root: turns a recipe's adapter settings into layers for the ports its
 * workflow needs, and runs it. With cli/ and server/, the only code that imports adapters.
 */
export { checkAdapters, checkCredentials, checkRecipe } from "./checks.js"
export { checkData } from "./data-checks.js"
export { kitchenLayer } from "./layers.js"
export type { KitchenOptions } from "./options.js"
export { type RenderedPreview, renderPreview } from "./preview.js"
export { resumeRecipe, runFinished, runRecipe } from "./run.js"
export { checkpointStoreLayer, recipeTokenizer } from "./sources.js"
