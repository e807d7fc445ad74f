/**
 * Reading the run directories named on `sous report`'s command line: each run's resolved
 * recipe, metrics, events, summary and checkpoints. A pipeline's directory stands for its
 * stages, each a run directory of its own; stages that never started are left out.
 */
import { existsSync, statSync } from "node:fs"
import { basename, join, resolve } from "node:path"
import { Effect } from "effect"
import { type CheckpointRow, readCheckpoints } from "./read-checkpoints.js"
import { isJsonObject, type JsonObject, readJsonLines, readJsonObject, readOptionalJsonObject } from "./read-json.js"
import { type ReportError, reportError } from "./report-error.js"

/** What one run directory holds, as read. */
export interface RunFiles {
  /** The run's label: its directory's name, or `<pipeline>/<stage>`. */
  readonly name: string
  /** The directory, as named on the command line (a stage: joined to its pipeline's). */
  readonly dir: string
  /** `recipe.json`: the resolved recipe. */
  readonly recipe: JsonObject
  /** `metrics.jsonl`: one object per optimizer step. */
  readonly metrics: ReadonlyArray<JsonObject>
  /** `events.jsonl`: evaluations, checkpoints, stage starts and ends, resumes. */
  readonly events: ReadonlyArray<JsonObject>
  /** `summary.json`, written when the run ended; undefined while it runs or after a crash. */
  readonly summary: JsonObject | undefined
  readonly checkpoints: ReadonlyArray<CheckpointRow>
}

const readRun = (dir: string, name: string, recipe: JsonObject): Effect.Effect<RunFiles, ReportError> =>
  Effect.gen(function*() {
    const metrics = yield* readJsonLines(join(dir, "metrics.jsonl"), "the run's metrics")
    const events = yield* readJsonLines(join(dir, "events.jsonl"), "the run's events")
    const summary = yield* readOptionalJsonObject(join(dir, "summary.json"), "the run's summary")
    const checkpoints = yield* readCheckpoints(dir, recipe, events)
    return { name, dir, recipe, metrics, events, summary, checkpoints }
  })

/** The stage names of a pipeline's resolved recipe; fails naming the file when it has none. */
const stageNames = (recipe: JsonObject, file: string): Effect.Effect<ReadonlyArray<string>, ReportError> => {
  const stages = recipe["stages"]
  const names = Array.isArray(stages)
    ? stages.flatMap((stage) => (isJsonObject(stage) && typeof stage["name"] === "string" ? [stage["name"]] : []))
    : []
  return names.length > 0 ? Effect.succeed(names) : Effect.fail(reportError(file, "a pipeline recipe without stages[].name"))
}

/**
 * The runs of one directory named on the command line: the run it holds, or each started
 * stage of the pipeline it holds. Fails naming the path when it is not a directory, holds
 * no `recipe.json`, or a file of a run is missing or malformed.
 */
export const readRunDirectory = (dir: string): Effect.Effect<ReadonlyArray<RunFiles>, ReportError> =>
  Effect.gen(function*() {
    const stats = yield* Effect.sync(() => statSync(dir, { throwIfNoEntry: false }))
    if (stats === undefined) return yield* reportError(dir, "no such directory")
    if (!stats.isDirectory()) return yield* reportError(dir, "not a directory (sous report takes run directories)")
    const recipeFile = join(dir, "recipe.json")
    if (!existsSync(recipeFile)) return yield* reportError(dir, "not a run directory: it holds no recipe.json")
    const recipe = yield* readJsonObject(recipeFile, "the run's recipe")
    const name = basename(resolve(dir))
    if (recipe["kind"] !== "pipeline") return [yield* readRun(dir, name, recipe)]
    const started = (yield* stageNames(recipe, recipeFile)).filter((stage) => existsSync(join(dir, stage, "recipe.json")))
    if (started.length === 0) return yield* reportError(dir, "a pipeline none of whose stages has started (no <stage>/recipe.json)")
    return yield* Effect.forEach(started, (stage) =>
      Effect.flatMap(readJsonObject(join(dir, stage, "recipe.json"), "the stage's recipe"), (stageRecipe) =>
        readRun(join(dir, stage), `${name}/${stage}`, stageRecipe)))
  })

/** The runs of every directory, in command-line order. */
export const readRunDirectories = (dirs: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<RunFiles>, ReportError> =>
  Effect.map(Effect.forEach(dirs, readRunDirectory), (runs) => runs.flat())
