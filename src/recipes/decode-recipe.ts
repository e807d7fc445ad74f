import { Effect, Exit, Schema } from "effect"
import { schemaProblems } from "../ports/index.js"
import { classifyHfProblem, hfModelInputProblems, isHubModel } from "./hf-model-recipe.js"
import { RecipeError, type RecipeProblem } from "./recipe-error.js"
import type { ClassifyRecipe } from "./classify-recipe.js"
import { type ChatRecipe, type Recipe, type RecipeKind, recipeKinds } from "./recipe.js"

/** Checks that need several fields at once, which a per-field schema cannot see. */
const crossFieldProblems = (recipe: Recipe): Array<RecipeProblem> => {
  const problems: Array<RecipeProblem> = []
  if (recipe.training.steps !== undefined && recipe.optimizer.warmupSteps > recipe.training.steps) {
    problems.push({
      path: "optimizer.warmupSteps",
      message: `must not exceed training.steps (${recipe.training.steps}), got ${recipe.optimizer.warmupSteps}`
    })
  }
  return [...problems, ...(recipe.kind === "classify" ? classifyProblems(recipe) : chatProblems(recipe))]
}

const classifyProblems = (recipe: ClassifyRecipe): Array<RecipeProblem> => {
  const shape = recipe.data.inputShape
  if (recipe.model.kind === "cnn" && shape.length !== 3) {
    return [{ path: "data.inputShape", message: `a cnn takes [height, width, channels], got ${JSON.stringify(shape)}` }]
  }
  return []
}

const chatProblems = (recipe: ChatRecipe): Array<RecipeProblem> => {
  const problems: Array<RecipeProblem> = []
  if (recipe.model.width % recipe.model.heads !== 0) {
    problems.push({ path: "model.heads", message: `must divide model.width (${recipe.model.width}), got ${recipe.model.heads}` })
  }
  if (recipe.model.lora?.targets !== undefined && recipe.model.hf === undefined) {
    problems.push({
      path: "model.lora.targets",
      message: "names Hugging Face modules, which a model.hf model has; sous's own transformer takes trainAttn, trainMlp and trainUnembed"
    })
  }
  // An hf:// model's tokenizer_config.json is read once the kitchen has downloaded it.
  if (recipe.renderer.format === "jinja" && recipe.renderer.chatTemplate === undefined && !isHubModel(recipe.model.hf)) {
    // A local model directory gives its template when it has one (withHfModelDefaults): name
    // the directory that gave none, which may be a mistyped or missing one.
    const hf = recipe.model.hf
    problems.push({
      path: "renderer.chatTemplate",
      message: hf === undefined
        ? "the jinja format needs the path of a tokenizer_config.json with a chat_template"
        : `the jinja format needs a chat template and model.hf ${JSON.stringify(hf)} has no tokenizer_config.json (is it the model's directory?); give renderer.chatTemplate`
    })
  }
  if (recipe.tokenizer.kind === "huggingface" && recipe.tokenizer.path === undefined) {
    problems.push({ path: "tokenizer.path", message: "a huggingface tokenizer needs the path of its tokenizer.json" })
  }
  if (recipe.tokenizer.kind === "byte" && recipe.tokenizer.path !== undefined) {
    problems.push({ path: "tokenizer.path", message: "the byte tokenizer reads no file; set tokenizer.kind: huggingface to use one" })
  }
  return problems
}

/** What a kind cannot run without, said in full where the schema would say "missing key". */
const requiredSections: Partial<Record<RecipeKind, Readonly<Record<string, string>>>> = {
  rl: { env: "an rl recipe needs an environment: env.builtin (arithmetic), env.module (a file) and env.export, or env.provided (a factory passed in code)" },
  distill: { teacher: "a distill recipe needs a teacher: teacher.store (a checkpoint store) and teacher.checkpoint (default final)" },
  classify: { model: "a classify recipe needs a model: model.kind mlp or cnn" }
}

const explainMissing = (kind: RecipeKind, problems: ReadonlyArray<RecipeProblem>): Array<RecipeProblem> =>
  problems.map((problem) => {
    const explained = requiredSections[kind]?.[problem.path]
    return explained !== undefined && problem.message.startsWith("missing") ? { ...problem, message: explained } : problem
  })

/** `input` with `kind: local` in a backend section that names no kind (the default backend). */
const withBackendKind = (input: object): object => {
  const backend = (input as Record<string, unknown>)["backend"]
  return typeof backend === "object" && backend !== null && !Array.isArray(backend) && !("kind" in backend)
    ? { ...input, backend: { kind: "local", ...backend } }
    : input
}

/**
 * Decodes a parsed recipe, reporting every problem with its path and the value found there,
 * e.g. `optimizer.lr: expected a positive number, got -1`. Unknown keys are errors, so a
 * typo never silently falls back to a default.
 */
export const decodeRecipe = (input: unknown, source: string): Effect.Effect<Recipe, RecipeError> => {
  // The kind picks the schema, so a recipe is checked against its own kind's fields only.
  const kind = typeof input === "object" && input !== null ? (input as Record<string, unknown>)["kind"] : undefined
  if (typeof kind !== "string" || !Object.hasOwn(recipeKinds, kind)) {
    const known = `one of ${Object.keys(recipeKinds).map((name) => `"${name}"`).join(", ")}`
    const found = kind === undefined ? "none" : JSON.stringify(kind)
    return Effect.fail(new RecipeError({ source, problems: [{ path: "kind", message: `expected ${known}, got ${found}` }] }))
  }
  // Likewise the backend's kind picks its section's fields.
  const backendKind = ((input as Record<string, unknown>)["backend"] as Record<string, unknown> | undefined)?.["kind"]
  if (backendKind !== undefined && backendKind !== "local" && backendKind !== "tinker") {
    return Effect.fail(new RecipeError({ source, problems: [{ path: "backend.kind", message: `expected "local" or "tinker", got ${JSON.stringify(backendKind)}` }] }))
  }
  const schema: Schema.Codec<Recipe, unknown> = recipeKinds[kind as RecipeKind] as Schema.Codec<Recipe, unknown>
  const exit = Schema.decodeUnknownExit(schema)(withBackendKind(input as object), { errors: "all", onExcessProperty: "error" })
  // Read from the recipe as written: decoding fills in the shape fields model.hf replaces.
  const hfProblems = hfModelInputProblems(input)
  if (Exit.isSuccess(exit)) {
    const problems = [...hfProblems, ...crossFieldProblems(exit.value)]
    return problems.length === 0 ? Effect.succeed(exit.value) : Effect.fail(new RecipeError({ source, problems }))
  }
  const error = Exit.findErrorOption(exit)
  if (error._tag === "None") return Effect.die(exit.cause)
  // The schema's words for a classify model.hf ("excess property", or no union member
  // matched) say less than the refusal does.
  const refusesHf = hfProblems.includes(classifyHfProblem)
  const problems = schemaProblems(error.value, input).filter((problem) => !refusesHf || (problem.path !== "model" && problem.path !== "model.hf"))
  return Effect.fail(new RecipeError({ source, problems: [...hfProblems, ...explainMissing(kind as RecipeKind, problems)] }))
}
