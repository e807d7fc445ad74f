/** The experiment trackers a recipe names, as metrics sinks that never fail the run. */
import { readdir, readFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Redacted, Schema } from "effect"
import { replaceFile } from "../adapters/fs/durable-files.js"
import { openMlflowTracker } from "../adapters/metrics/mlflow/mlflow-sink.js"
import { makeTensorboardSink } from "../adapters/metrics/tensorboard/tensorboard-sink.js"
import { tolerantSink } from "../adapters/metrics/tolerant-sink.js"
import { withoutUserinfo } from "../adapters/telemetry/otlp-http-client.js"
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

// A file that is missing, unreadable or not a map of ids names no run: a new one is started.
const readMlflowRuns = (runDir: string) =>
  Effect.tryPromise(async () => JSON.parse(await readFile(mlflowRunsFile(runDir), "utf8")) as unknown).pipe(
    Effect.map((parsed): Record<string, string> =>
      typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)
        ? Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === "string"))
        : {}
    ),
    Effect.orElseSucceed((): Record<string, string> => ({}))
  )

const recordMlflowRun = (runDir: string, key: string, runId: string) =>
  Effect.flatMap(readMlflowRuns(runDir), (runs) =>
    Effect.tryPromise({
      try: () => replaceFile(mlflowRunsFile(runDir), `${JSON.stringify({ ...runs, [key]: runId }, null, 2)}\n`),
      catch: (error) => new MetricsError({ message: `cannot record its run id in ${mlflowRunsFile(runDir)}: ${messageOf(error)}`, cause: error })
    }))

// fetch refuses a URL that holds a user or password, and the label must not print one.
const hasUserinfo = (uri: string) => /^https?:\/\/[^@/]*@/.test(uri)

/**
 * The run logs to the MLflow run its directory recorded, if any (a resumed run, or a durable
 * run's later attempt), else to a new one; `sous run --overwrite` removes the record with
 * the run's files.
 */
const mlflowSink = (recipe: Recipe, tracker: typeof MlflowTracker.Type, runDir: string) =>
  tolerantSink(
    `mlflow tracker at ${withoutUserinfo(tracker.uri)}`,
    Effect.gen(function*() {
      if (hasUserinfo(tracker.uri)) {
        return yield* new MetricsError({ message: `cannot start: its uri holds a user or password, which sous neither sends nor logs; give a token through tokenEnv (${tracker.tokenEnv})` })
      }
      // An empty variable is no token: a blank bearer token would be refused.
      const token = process.env[tracker.tokenEnv]
      const key = mlflowRunKey(tracker)
      const resumeRunId = (yield* readMlflowRuns(runDir))[key]
      const opened = yield* openMlflowTracker({
        uri: tracker.uri,
        experiment: tracker.experiment,
        runName: recipe.name,
        token: token === undefined || token === "" ? undefined : Redacted.make(token),
        params: recipeParams(recipe),
        tags: { "mlflow.source.name": "sous", "sous.kind": recipe.kind, "sous.recipe_hash": recipeHash(recipe), "sous.run_dir": resolve(runDir) },
        resumeRunId
      })
      if (opened.runId !== resumeRunId) yield* recordMlflowRun(runDir, key, opened.runId)
      return opened
    })
  )

/**
 * TensorBoard writes a local directory: `dir` as the recipe gives it (made absolute by
 * `loadRecipe`) or a `file://` URI; a remote location is the tracker's failure, not the run's.
 */
const tensorboardSink = (tracker: typeof TensorboardTracker.Type, runDir: string, resumeAfter: { readonly step: number } | undefined) => {
  const dir = tracker.dir ?? join(runDir, "tensorboard")
  const scheme = uriScheme(dir)
  const local = scheme === undefined ? dir : scheme === "file" ? fileURLToPath(dir) : undefined
  return tolerantSink(
    `tensorboard tracker in ${dir}`,
    local === undefined
      ? Effect.fail(new MetricsError({ message: "cannot write there: TensorBoard event files go to a local directory" }))
      : Effect.gen(function*() {
        // A run that starts again where event files already are (a durable run's attempt
        // after one that died before its first checkpoint) restarts the series at step 0.
        const restartAt = resumeAfter !== undefined ? resumeAfter.step + 1 : (yield* holdsEventFiles(local)) ? 0 : undefined
        return { sink: yield* makeTensorboardSink(local, { restartAt }) }
      })
  )
}

const holdsEventFiles = (dir: string) =>
  Effect.promise(() => readdir(dir).then((names) => names.some((name) => name.startsWith("events.out.tfevents.")), () => false))

/**
 * A sink per MLflow and TensorBoard tracker of `recipe.trackers`, each wrapped by
 * `tolerantSink`: one that cannot start or fails later is warned about once and left out,
 * and the run goes on. `otlp` trackers are built elsewhere, with the tracer they also feed.
 * A run whose directory (`runDir`: the run's, or a durable run's shared `trackerHome`)
 * recorded an MLflow run logs on to it (its id is kept in {@link mlflowRunsFile}); a run
 * resumed after step `resumeAfter.step`, or started again where event files already are,
 * marks the restart in its TensorBoard file.
 * The MLflow runs end, and the event files close, when the calling scope closes.
 */
export const trackerSinks = (recipe: Recipe, runDir: string, resumeAfter?: { readonly step: number }) =>
  Effect.forEach(recipe.trackers ?? [], (tracker) =>
    tracker.kind === "mlflow"
      ? Effect.map(mlflowSink(recipe, tracker, runDir), (sink) => [sink])
      : tracker.kind === "tensorboard"
      ? Effect.map(tensorboardSink(tracker, runDir, resumeAfter), (sink) => [sink])
      : Effect.succeed([])).pipe(Effect.map((sinks) => sinks.flat()))
