/** The experiment trackers a recipe names, as metrics sinks that never fail the run. */
import { readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Redacted, Schema } from "effect"
import { replaceFile } from "../adapters/fs/durable-files.js"
import { openMlflowTracker } from "../adapters/metrics/mlflow/mlflow-sink.js"
import { makeTensorboardSink } from "../adapters/metrics/tensorboard/tensorboard-sink.js"
import { tolerantSink } from "../adapters/metrics/tolerant-sink.js"
import { MetricsError, uriScheme } from "../ports/index.js"
import { messageOf } from "../ports/thrown-message.js"
import { recipeHash } from "../recipes/recipe-hash.js"
import { Recipe } from "../recipes/recipe.js"
import type { MlflowTracker, TensorboardTracker } from "../recipes/recipe-sections.js"

/**
 * The resolved recipe as MLflow params: every leaf under its dotted path (`optimizer.lr`),
 * a list as its JSON (`data.mix` is one param, not one per entry), `trackers` left out as
 * the recipe hash leaves it out.
 */
export const recipeParams = (recipe: Recipe): Record<string, string> => {
  const params: Record<string, string> = {}
  const add = (prefix: string, value: unknown): void => {
    if (value === undefined || value === null) return
    if (typeof value === "object" && !Array.isArray(value)) {
      for (const [key, inner] of Object.entries(value)) add(prefix === "" ? key : `${prefix}.${key}`, inner)
    } else {
      params[prefix] = typeof value === "string" ? value : JSON.stringify(value)
    }
  }
  const { trackers: _, ...encoded } = Schema.encodeSync(Recipe)(recipe) as Record<string, unknown>
  add("", encoded)
  return params
}

/**
 * The MLflow runs a run directory's run logs to, by server and experiment, so that a resumed
 * run goes on logging to the same MLflow run.
 */
export const mlflowRunsFile = (runDir: string): string => join(runDir, "mlflow-runs.json")

const mlflowRunKey = (tracker: typeof MlflowTracker.Type) => `${tracker.uri} ${tracker.experiment}`

// A file that is missing or unreadable names no run: the resumed run then starts a new one.
const readMlflowRuns = (runDir: string) =>
  Effect.promise(() =>
    readFile(mlflowRunsFile(runDir), "utf8").then((text) => JSON.parse(text) as Record<string, string>, () => ({} as Record<string, string>))
  )

const recordMlflowRun = (runDir: string, key: string, runId: string) =>
  Effect.flatMap(readMlflowRuns(runDir), (runs) =>
    Effect.tryPromise({
      try: () => replaceFile(mlflowRunsFile(runDir), `${JSON.stringify({ ...runs, [key]: runId }, null, 2)}\n`),
      catch: (error) => new MetricsError({ message: `cannot record its run id in ${mlflowRunsFile(runDir)}: ${messageOf(error)}`, cause: error })
    }))

const mlflowSink = (recipe: Recipe, tracker: typeof MlflowTracker.Type, runDir: string, resuming: boolean) =>
  Effect.gen(function*() {
    // An empty variable is no token: a blank bearer token would be refused.
    const token = process.env[tracker.tokenEnv]
    const key = mlflowRunKey(tracker)
    const resumeRunId = resuming ? (yield* readMlflowRuns(runDir))[key] : undefined
    return yield* tolerantSink(
      `mlflow tracker at ${tracker.uri}`,
      openMlflowTracker({
        uri: tracker.uri,
        experiment: tracker.experiment,
        runName: recipe.name,
        token: token === undefined || token === "" ? undefined : Redacted.make(token),
        params: recipeParams(recipe),
        tags: { "mlflow.source.name": "sous", "sous.kind": recipe.kind, "sous.recipe_hash": recipeHash(recipe), "sous.run_dir": resolve(runDir) },
        resumeRunId
      }).pipe(Effect.tap((opened) => opened.runId === resumeRunId ? Effect.void : recordMlflowRun(runDir, key, opened.runId)))
    )
  })

/**
 * TensorBoard writes a local directory: `dir` as the recipe gives it (made absolute by
 * `loadRecipe`) or a `file://` URI; a remote location is the tracker's failure, not the run's.
 */
const tensorboardSink = (tracker: typeof TensorboardTracker.Type, runDir: string, restartAt: number | undefined) => {
  const dir = tracker.dir ?? join(runDir, "tensorboard")
  const scheme = uriScheme(dir)
  const local = scheme === undefined ? dir : scheme === "file" ? fileURLToPath(dir) : undefined
  return tolerantSink(
    `tensorboard tracker in ${dir}`,
    local === undefined
      ? Effect.fail(new MetricsError({ message: "cannot write there: TensorBoard event files go to a local directory" }))
      : Effect.map(makeTensorboardSink(local, { restartAt }), (sink) => ({ sink }))
  )
}

/**
 * A sink per MLflow and TensorBoard tracker of `recipe.trackers`, each wrapped by
 * `tolerantSink`: one that cannot start or fails later is warned about once and left out,
 * and the run goes on. `otlp` trackers are built elsewhere, with the tracer they also feed.
 * A run resumed after step `resumeAfter.step` logs on to the MLflow run it logged to before
 * (its id is kept in {@link mlflowRunsFile}) and marks the restart in its TensorBoard file.
 * The MLflow runs end, and the event files close, when the calling scope closes.
 */
export const trackerSinks = (recipe: Recipe, runDir: string, resumeAfter?: { readonly step: number }) =>
  Effect.forEach(recipe.trackers ?? [], (tracker) =>
    tracker.kind === "mlflow"
      ? Effect.map(mlflowSink(recipe, tracker, runDir, resumeAfter !== undefined), (sink) => [sink])
      : tracker.kind === "tensorboard"
      ? Effect.map(tensorboardSink(tracker, runDir, resumeAfter === undefined ? undefined : resumeAfter.step + 1), (sink) => [sink])
      : Effect.succeed([])).pipe(Effect.map((sinks) => sinks.flat()))
