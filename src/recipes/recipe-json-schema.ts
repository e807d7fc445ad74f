/**
 * JSON Schema of recipe files, generated from the recipe schemas, for editors (completion and
 * checks while a recipe is typed) and other tools. Draft-07: the newest draft the YAML
 * language server (VS Code's YAML extension) fully supports; ajv checks it too.
 */
import { JsonSchema, Record, Schema } from "effect"
import { PipelineRecipe, PipelineStage } from "./pipeline-recipe.js"
import { type RecipeKind, recipeKinds } from "./recipe.js"
import { ChatTemplateSection, LocalBackendSection, RendererSection, TinkerBackendSection } from "./recipe-sections.js"
import { Location } from "./schema-fields.js"

// A recipe file is the encoded side of the recipe schemas except where loading rewrites it
// before decoding; those places, and only those, are given their file form here:
// - `renderer.chatTemplate` is the path of a tokenizer_config.json, which `readChatTemplate`
//   replaces by the template it holds (a resolved recipe, a run's recipe.json, holds the
//   template itself, and loads as it is);
// - `backend.kind` may be left out: `decodeRecipe` fills in `local`;
// - a pipeline stage's `recipe` is a recipe file's path or an inline recipe, and `set` lists
//   overrides for that file (`loadStage`, which alone refuses `set` beside an inline recipe).

const ChatTemplateFile = Schema.Union([
  Location.annotate({ description: "the path of a model's tokenizer_config.json, relative to the recipe" }),
  ChatTemplateSection
])

const RendererFile = Schema.Struct({ ...RendererSection.fields, chatTemplate: Schema.optionalKey(ChatTemplateFile) })

const BackendFile = Schema.Union([
  Schema.Struct({ ...LocalBackendSection.fields, kind: Schema.optionalKey(LocalBackendSection.fields.kind) }),
  TinkerBackendSection
])

/** What `sous schema` takes: a training recipe kind, or `pipeline`. */
export type RecipeSchemaKind = RecipeKind | "pipeline"

/**
 * The file form of each kind's recipe. Built once, so that where a document holds one twice
 * (any recipe file: at the top and inline in a pipeline) it is one definition, named here.
 */
const recipeFiles = Record.map(recipeKinds, ({ fields }, kind): Schema.Top =>
  Schema.Struct({
    ...fields,
    ...("renderer" in fields ? { renderer: Schema.optionalKey(RendererFile) } : {}),
    backend: Schema.optionalKey(BackendFile)
  }).annotate({ identifier: `${kind}-recipe` }))

const PipelineFile = Schema.Struct({
  ...PipelineRecipe.fields,
  stages: Schema.Array(Schema.Struct({
    name: PipelineStage.fields.name,
    recipe: Schema.Union([
      Location.annotate({ description: "the path of a recipe file, relative to the pipeline file" }),
      Schema.Union(Object.values(recipeFiles))
    ]),
    set: Schema.optionalKey(Schema.Array(Schema.String).annotate({ description: "path=value overrides for the recipe file" }))
  })).check(Schema.isMinLength(1))
})

/**
 * The JSON Schema (draft-07) of a recipe file of `kind`, or, without a kind, of any recipe
 * file (a training recipe of any kind or a pipeline, told apart by `kind`). It checks what the
 * field schemas can say (types, ranges, literals, unknown keys); checks across fields, such
 * as `model.heads` dividing `model.width`, are left to sous, which has the last word.
 */
export const recipeJsonSchema = (kind?: RecipeSchemaKind): JsonSchema.JsonSchema => {
  const schema = kind === undefined
    ? Schema.Union([...Object.values(recipeFiles), PipelineFile])
    : kind === "pipeline"
    ? PipelineFile
    : recipeFiles[kind]
  const document = JsonSchema.toDocumentDraft07(Schema.toJsonSchemaDocument(schema, {
    // sous refuses keys it does not know, so the schema does too (additionalProperties: false).
    onExcessProperty: "error",
    // A definition only for what the document holds twice: one kind's schema reads top-down.
    referencePolicy: ({ identifier, occurrences }) => occurrences > 1 ? identifier : undefined
  }))
  return {
    $schema: JsonSchema.META_SCHEMA_URI_DRAFT_07,
    title: kind === undefined ? "sous recipe" : `sous ${kind} recipe`,
    ...document.schema,
    ...(Object.keys(document.definitions).length === 0 ? {} : { definitions: document.definitions })
  }
}

/** The kinds {@link recipeJsonSchema} takes: every training recipe kind, and `pipeline`. */
export const recipeSchemaKinds: ReadonlyArray<RecipeSchemaKind> = [...Object.keys(recipeKinds) as Array<RecipeKind>, "pipeline"]
