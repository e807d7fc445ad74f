/**
 * Recipes written in code. Each constructor takes the fields a recipe file holds, typed (so
 * an editor completes them and `tsc` refuses a misspelt one), checks them as loading a file
 * does, and returns the checked recipe `runRecipe` takes.
 */
import { resolve } from "node:path"
import { Cause, Effect, Exit } from "effect"
import type { ClassifyRecipe } from "./classify-recipe.js"
import { decodeRecipe } from "./decode-recipe.js"
import type { DistillRecipe } from "./distill-recipe.js"
import { resolvePaths } from "./load-recipe.js"
import { decodePipeline, type PipelineRecipe } from "./pipeline-recipe.js"
import type { PreferenceRecipe } from "./preference-recipe.js"
import { RecipeError } from "./recipe-error.js"
import type { LocalBackendSection, TinkerBackendSection } from "./recipe-sections.js"
import type { Recipe, RecipeKind } from "./recipe.js"
import type { RlRecipe } from "./rl-recipe.js"
import type { SupervisedRecipe } from "./supervised-recipe.js"

/** Where the relative paths of a recipe written in code are. */
export interface RecipeInputOptions {
  /**
   * The directory that relative paths in the recipe resolve against: data files, the
   * tokenizer, the checkpoint store, `model.from`, the teacher, the environment module.
   * Default: `process.cwd()` when the constructor is called. A module that keeps its data
   * beside it passes `import.meta.dirname`. URIs (`s3://`, `hf://`, `file://`) and absolute
   * paths are kept as they are.
   */
  readonly baseDir?: string
}

/** A backend section as a file may write it: the local backend's `kind` may be left out. */
type BackendInput =
  | (Omit<typeof LocalBackendSection.Encoded, "kind"> & { readonly kind?: "local" })
  | typeof TinkerBackendSection.Encoded

/** A kind's recipe as a file holds it (the schema's encoded form), its `kind` optional. */
type InputOf<Encoded extends { readonly kind: string }> =
  & Omit<Encoded, "kind" | "backend">
  & { readonly kind?: Encoded["kind"]; readonly backend?: BackendInput }

/**
 * The fields of a supervised recipe, as its file holds them (see the README's recipe
 * reference). `renderer.chatTemplate` takes the template itself (`{ source, template }`);
 * a recipe file's path to a `tokenizer_config.json` is read by `loadRecipe` only.
 */
export interface SupervisedRecipeInput extends InputOf<typeof SupervisedRecipe.Encoded> {}
/** The fields of a classify recipe, as its file holds them. */
export interface ClassifyRecipeInput extends InputOf<typeof ClassifyRecipe.Encoded> {}
/** The fields of a preference (DPO) recipe, as its file holds them; see {@link SupervisedRecipeInput}. */
export interface PreferenceRecipeInput extends InputOf<typeof PreferenceRecipe.Encoded> {}
/**
 * The fields of an rl recipe, as its file holds them; see {@link SupervisedRecipeInput}. For an
 * environment passed in code, `env: { provided: name }` and `KitchenOptions.env`.
 */
export interface RlRecipeInput extends InputOf<typeof RlRecipe.Encoded> {}
/** The fields of a distill recipe, as its file holds them; see {@link SupervisedRecipeInput}. */
export interface DistillRecipeInput extends InputOf<typeof DistillRecipe.Encoded> {}

/** A pipeline of recipes built in code: each stage's recipe made by a constructor. */
export interface PipelineRecipeInput {
  readonly kind?: "pipeline"
  /** Default `pipeline`. */
  readonly name?: string
  /** Run in order, each in `<runDir>/<name>`; every stage after the first starts from the one before. */
  readonly stages: ReadonlyArray<{ readonly name: string; readonly recipe: Recipe }>
}

/** The value of a synchronous effect, or its error thrown. */
const orThrow = <A>(effect: Effect.Effect<A, RecipeError>): A => {
  const exit = Effect.runSyncExit(effect)
  if (Exit.isSuccess(exit)) return exit.value
  throw Cause.squash(exit.cause)
}

/** Refuses a `kind` that is not the constructor's, rather than quietly replacing it. */
const checkKind = (input: object, kind: string, source: string) => {
  // Read with ?. for a caller in plain JavaScript passing null: the decoder then names the problem.
  const found = (input as { readonly kind?: unknown } | null)?.kind
  if (found !== undefined && found !== kind) {
    throw new RecipeError({ source, problems: [{ path: "kind", message: `expected "${kind}" (or no kind), got ${JSON.stringify(found)}` }] })
  }
}

// The checks and path resolution of a recipe file, without the file: the same decodeRecipe
// and resolvePaths that loadRecipe runs.
const construct = <R extends Recipe>(kind: RecipeKind, input: object, options: RecipeInputOptions): R => {
  const source = `${kind}Recipe(...)`
  checkKind(input, kind, source)
  const recipe = orThrow(decodeRecipe({ ...input, kind }, source))
  return resolvePaths(recipe, resolve(options.baseDir ?? process.cwd())) as R
}

/**
 * A supervised recipe written in code: `input` is checked as a recipe file is (every field,
 * cross-field rules, unknown keys refused) and its relative paths resolved against
 * `options.baseDir` (default `process.cwd()`). Throws a `RecipeError` that lists every
 * problem with its path. The result is what `runRecipe` takes.
 *
 * @example
 * const recipe = supervisedRecipe({ data: { train: "data/train.jsonl" }, training: { steps: 300 } }, { baseDir: import.meta.dirname })
 */
export const supervisedRecipe = (input: SupervisedRecipeInput, options: RecipeInputOptions = {}): SupervisedRecipe =>
  construct("supervised", input, options)

/** A classify recipe written in code, checked and resolved as {@link supervisedRecipe} says. */
export const classifyRecipe = (input: ClassifyRecipeInput, options: RecipeInputOptions = {}): ClassifyRecipe =>
  construct("classify", input, options)

/** A preference (DPO) recipe written in code, checked and resolved as {@link supervisedRecipe} says. */
export const preferenceRecipe = (input: PreferenceRecipeInput, options: RecipeInputOptions = {}): PreferenceRecipe =>
  construct("preference", input, options)

/** An rl recipe written in code, checked and resolved as {@link supervisedRecipe} says. */
export const rlRecipe = (input: RlRecipeInput, options: RecipeInputOptions = {}): RlRecipe => construct("rl", input, options)

/** A distill recipe written in code, checked and resolved as {@link supervisedRecipe} says. */
export const distillRecipe = (input: DistillRecipeInput, options: RecipeInputOptions = {}): DistillRecipe =>
  construct("distill", input, options)

/**
 * A pipeline written in code, for `runPipeline`: checked as a pipeline file is (stage names
 * unique file names, a from-scratch classify recipe only first). Its stages' recipes come from
 * the constructors above, so they are checked and resolved already. Throws a `RecipeError`.
 */
export const pipelineRecipe = (input: PipelineRecipeInput): PipelineRecipe => {
  const source = "pipelineRecipe(...)"
  checkKind(input, "pipeline", source)
  return orThrow(decodePipeline({ ...input, kind: "pipeline" }, source))
}
