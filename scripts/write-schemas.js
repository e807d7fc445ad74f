// Writes the JSON Schema of recipe files into schemas/: one file per kind (schemas/<kind>.json)
// and schemas/recipe.json for any recipe file, which editors can point at in an installed
// package. It reads the compiled code, so build first: npm run build && node scripts/write-schemas.js
// test/recipes/recipe-json-schema.test.ts fails while the files differ from what this writes.
import { writeFileSync } from "node:fs"
import { recipeJsonSchema, recipeSchemaKinds } from "../dist/recipes/recipe-json-schema.js"

const schemasDir = new URL("../schemas/", import.meta.url)
const write = (name, schema) => writeFileSync(new URL(name, schemasDir), `${JSON.stringify(schema, null, 2)}\n`)

for (const kind of recipeSchemaKinds) write(`${kind}.json`, recipeJsonSchema(kind))
write("recipe.json", recipeJsonSchema())
console.log(`wrote schemas/recipe.json and schemas/{${recipeSchemaKinds.join(",")}}.json`)
