/**
 * The commands that take a recipe file or run directory: run, resume, render, validate, plan.
 * Loaded only when one of them runs (see `commands.ts`), with the training stack they need.
 */
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import { checkAdapters, checkCredentials, checkRecipe, renderPreview, resumeRecipe, runRecipe } from "../kitchen/index.js"
import type { NewRun } from "../kitchen/options.js"
import { compileRecipe } from "../recipes/compile-recipe.js"
import { loadAnyRecipe } from "../recipes/load-recipe.js"
import { type AnyRecipe, linkedStageRecipe } from "../recipes/pipeline-recipe.js"
import { RecipeError } from "../recipes/recipe-error.js"
import { recipeHash, resolvedRecipeJson } from "../recipes/recipe-hash.js"
import { printPlan, validateWorkflow, WorkflowInvalidError } from "../workflows/index.js"
import { type ParsedArgs, UsageError } from "./args.js"
import type { CliError } from "./cli-error.js"
import { keyNumbers, makeProgressSink } from "./progress-sink.js"
import { holdsRun, prepareRunDirectory, RunDirectoryError, runFiles, runRecipeFile } from "../kitchen/run-directory.js"
import { runPipeline, stageRunDir } from "../kitchen/run-pipeline.js"
import type { Recipe } from "../recipes/recipe.js"

const out = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

const fileArgument = (args: ParsedArgs): string => {
  // checkCommandLine refused the options the verb does not take.
  const what = args.verb === "resume" ? "run directory" : "recipe file"
  const [file, ...extra] = args.positionals
  if (file === undefined) throw new UsageError({ message: `sous ${args.verb} needs a ${what}` })
  if (extra.length > 0) throw new UsageError({ message: `unexpected argument ${extra[0]}` })
  if (args.verb === "run" && args.out === undefined) throw new UsageError({ message: "sous run needs --out <dir>" })
  if (args.overwrite && args.resume) throw new UsageError({ message: "--overwrite and --resume exclude each other" })
  if (args.limit !== undefined && !/^[1-9][0-9]*$/.test(args.limit)) {
    throw new UsageError({ message: `--limit must be a positive integer, got ${args.limit}` })
  }
  return file
}

/** Compiles a recipe, failing on a workflow whose stages read state nothing writes. */
const compileValid = (recipe: Recipe) =>
  Effect.gen(function*() {
    const compiled = compileRecipe(recipe, { runId: "plan", recipeHash: recipeHash(recipe), startedAt: 0 })
    const problems = validateWorkflow(compiled.workflow)
    if (problems.length > 0) return yield* new WorkflowInvalidError({ workflow: compiled.workflow.name, problems })
    return compiled
  })

/** Each recipe a file holds, with what to call it: the recipe, or every stage of a pipeline. */
const recipesOf = (recipe: AnyRecipe, file: string): ReadonlyArray<{ readonly title: string; readonly recipe: Recipe }> =>
  recipe.kind === "pipeline"
    ? recipe.stages.map((stage, index) => ({
      title: `stage ${index + 1}/${recipe.stages.length}: ${stage.name} (${stage.recipe.kind}${index > 0 ? ", from the final checkpoint of the stage before" : ""})`,
      recipe: linkedStageRecipe(stage, index === 0 ? undefined : `<out>/${recipe.stages[index - 1]!.name}/checkpoints`)
    }))
    : [{ title: file, recipe }]

const validate = (file: string, args: ParsedArgs) =>
  Effect.gen(function*() {
    const recipe = yield* loadAnyRecipe(file, args.sets)
    for (const part of recipesOf(recipe, file)) {
      const source = recipe.kind === "pipeline" ? `${file} (${part.title})` : file
      // The checks a run makes before it writes anything, so what it would refuse fails here.
      yield* checkRecipe(part.recipe, source)
      yield* compileValid(part.recipe)
    }
    yield* out(`${file}: a valid ${recipe.kind} recipe, its data read and checked. Resolved, with defaults:`)
    yield* out(resolvedRecipeJson(recipe))
  })

const plan = (file: string, args: ParsedArgs) =>
  Effect.gen(function*() {
    const recipe = yield* loadAnyRecipe(file, args.sets)
    for (const part of recipesOf(recipe, file)) {
      yield* checkAdapters(part.recipe, file)
      const compiled = yield* compileValid(part.recipe)
      if (recipe.kind === "pipeline") yield* out(`── ${part.title}`)
      yield* out(printPlan(compiled.workflow))
      yield* out("")
      for (const line of compiled.schedule) yield* out(line)
      if (recipe.kind === "pipeline") yield* out("")
    }
  })

/** The summary.json a run wrote in `dir`; undefined when there is none to read (the run still succeeded). */
const summaryIn = (dir: string) =>
  Effect.promise(() => readFile(join(dir, "summary.json"), "utf8").then((text): unknown => JSON.parse(text), () => undefined))

/** `300 steps, eval nll 1.297 (best 1.297 at step 300)`: a run's steps and the numbers of its summary. */
const stepsAndNumbers = (steps: number, dir: string) =>
  Effect.map(summaryIn(dir), (summary) => {
    const numbers = keyNumbers(summary)
    return `${steps} steps${numbers === undefined ? "" : `, ${numbers}`}`
  })

/** How often progress is printed: the recipe's `log.every`, or its first stage's. */
const logEvery = (recipe: AnyRecipe): number => (recipe.kind === "pipeline" ? recipe.stages[0]!.recipe : recipe).log.every

/**
 * Runs `recipe` in `runDir` as a new run (`newRun`), or continues it (without): a pipeline
 * resumes or skips the stages it has run.
 */
const execute = (recipe: AnyRecipe, file: string, runDir: string, args: ParsedArgs, newRun?: NewRun) =>
  Effect.gen(function*() {
    const progress = makeProgressSink({ stream: process.stderr, every: logEvery(recipe) })
    // A run that fails or is interrupted before its summary leaves the bar to be stopped here.
    yield* Effect.addFinalizer(() => Effect.sync(progress.close))
    const sinks = [progress]
    if (recipe.kind === "pipeline") {
      if (newRun !== undefined) {
        // Every stage is checked before the pipeline's directory is written; each stage's run
        // checks its own again before it writes its directory.
        yield* Effect.forEach(recipesOf(recipe, file), (part) => checkRecipe(part.recipe, file), { discard: true })
        yield* prepareRunDirectory(runDir, newRun.resolvedRecipe, newRun.overwrite, newRun.files)
      }
      const stages = yield* runPipeline(recipe, { runDir, sinks, fallback: args.fallback })
      const done = yield* Effect.forEach(stages, (stage) =>
        Effect.map(stepsAndNumbers(stage.steps, stageRunDir(runDir, stage.name)), (text) => `${stage.name}: ${text}`))
      return yield* out(`done: ${done.join("; ")}; each stage's run in ${runDir}/<stage>, summary.json in ${runDir}`)
    }
    const result = newRun === undefined
      ? yield* resumeRecipe(recipe, { runDir, sinks, source: file, fallback: args.fallback })
      : yield* runRecipe(recipe, { runDir, sinks, source: file, newRun })
    yield* out(`done: ${yield* stepsAndNumbers(result.step, runDir)}; metrics, checkpoints and summary.json in ${runDir}`)
  }).pipe(Effect.scoped)

/** Checks every recipe a file holds against this kitchen's adapters and the credentials they need. */
const checkAll = (recipe: AnyRecipe, file: string) =>
  Effect.forEach(
    recipesOf(recipe, file),
    (part) => Effect.andThen(checkAdapters(part.recipe, file), checkCredentials(part.recipe, file)),
    { discard: true }
  )

/** The run files of a recipe's run directory: a pipeline adds a directory per stage. */
const runFilesOf = (recipe: AnyRecipe): ReadonlyArray<string> =>
  recipe.kind === "pipeline" ? [...runFiles, ...recipe.stages.map((stage) => stage.name)] : runFiles

const run = (file: string, args: ParsedArgs) =>
  Effect.gen(function*() {
    const runDir = args.out! // fileArgument refused a run without --out
    const recipe = yield* loadAnyRecipe(file, args.sets)
    yield* checkAll(recipe, file)
    if (args.resume && (yield* holdsRun(runDir))) {
      const started = yield* loadAnyRecipe(runRecipeFile(runDir), [])
      if (recipeHash(started) !== recipeHash(recipe)) {
        return yield* new RunDirectoryError({
          path: runDir,
          message: `${runDir} holds a run of another recipe (hash ${recipeHash(started)}, this one ${recipeHash(recipe)}); ` +
            "resume it with its own recipe (sous resume), or choose another --out"
        })
      }
      return yield* execute(recipe, file, runDir, args)
    }
    // The data is checked before the directory is prepared, so --overwrite never removes a
    // run for a recipe that cannot start, and a failed start leaves no directory.
    yield* execute(recipe, file, runDir, args, { resolvedRecipe: resolvedRecipeJson(recipe), overwrite: args.overwrite, files: runFilesOf(recipe) })
  })

const resume = (runDir: string, args: ParsedArgs) =>
  Effect.gen(function*() {
    if (!(yield* holdsRun(runDir))) {
      return yield* new RunDirectoryError({ path: runDir, message: `${runDir} holds no run to resume (no recipe.json)` })
    }
    const recipe = yield* loadAnyRecipe(runRecipeFile(runDir), [])
    yield* Effect.forEach(recipesOf(recipe, runDir), (part) => checkCredentials(part.recipe, runRecipeFile(runDir)), { discard: true })
    yield* execute(recipe, runRecipeFile(runDir), runDir, args)
  })

const render = (file: string, args: ParsedArgs) =>
  Effect.gen(function*() {
    const limit = Number(args.limit ?? "3") // fileArgument checked it
    const recipe = yield* loadAnyRecipe(file, args.sets)
    if (recipe.kind === "pipeline") {
      return yield* new RecipeError({
        source: file,
        problems: [{ path: "kind", message: "sous render previews one recipe's rows; render a stage's recipe file" }]
      })
    }
    const context = recipe.kind === "classify" ? 0 : recipe.model.contextLength
    for (const preview of yield* renderPreview(recipe, limit, file)) {
      const cut = preview.tokens > context + 1 ? `; cut to ${context + 1} in training` : ""
      yield* out(`── ${preview.source}: ${preview.tokens} tokens, ${preview.trained} trained${cut}`)
      yield* out(preview.text)
      yield* out("")
    }
  })

/** A command: what it does with its file argument, failing only with errors it can describe. */
type Command = (file: string, args: ParsedArgs) => Effect.Effect<void, CliError>

const verbs: Record<string, Command> = { run, resume, render, validate, plan }

/** The program of a recipe command (`verb` one of run, resume, render, validate, plan), or undefined for another verb. */
export const recipeCommand = (verb: string, args: ParsedArgs): Effect.Effect<void, CliError> | undefined => {
  const command = verbs[verb]
  return command === undefined ? undefined : command(fileArgument(args), args)
}
