import { existsSync } from "node:fs"
import { mkdir, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Schema } from "effect"
import { messageOf } from "../ports/thrown-message.js"

/** A run directory that cannot be used as asked. */
export class RunDirectoryError extends Schema.TaggedError<RunDirectoryError>()("RunDirectoryError", {
  path: Schema.String,
  message: Schema.String,
  /** The file system's error, for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

/** The resolved recipe a run directory holds, written when the run started. */
export const runRecipeFile = (dir: string): string => join(dir, "recipe.json")

/** Whether `dir` holds a run (its resolved recipe). */
export const holdsRun = (dir: string) => Effect.sync(() => existsSync(runRecipeFile(dir)))

/** The files a run writes into its directory. */
export const runFiles = ["recipe.json", "metrics.jsonl", "events.jsonl", "summary.json", "checkpoints", "tensorboard", "mlflow-runs.json"] as const

/** A run's files that `dir` holds, of `files`. */
const filesIn = (dir: string, files: ReadonlyArray<string>) => files.filter((name) => existsSync(join(dir, name)))

const alreadyHolds = (dir: string, existing: ReadonlyArray<string>) =>
  new RunDirectoryError({
    path: dir,
    message: `${dir} already holds a run (${existing.join(", ")}); choose another --out, or pass --resume to continue it or --overwrite to start again`
  })

/**
 * Refuses a `dir` that holds what a run writes as it goes (metrics, events, summary,
 * checkpoints), before anything is written there: a new run into it would append to another
 * run's logs and replace its summary. `recipe.json` alone is a run that was prepared
 * (`prepareRunDirectory`) and has not started.
 */
export const refuseRunOutputs = (dir: string) =>
  Effect.suspend(() => {
    const existing = filesIn(dir, runFiles.filter((name) => name !== "recipe.json"))
    return existing.length === 0 ? Effect.void : Effect.fail(alreadyHolds(dir, existing))
  })

/**
 * Prepares `dir` for a new run. A directory that already holds a run is refused unless
 * `overwrite` is set, so a typo in `--out` never destroys a finished run's checkpoints;
 * with `overwrite` only the run's own `files` are removed (a pipeline's include its stages').
 */
export const prepareRunDirectory = (
  dir: string,
  resolvedRecipe: string,
  overwrite: boolean,
  files: ReadonlyArray<string> = runFiles
) =>
  Effect.tryPromise({
    try: async () => {
      const existing = filesIn(dir, files)
      if (existing.length > 0 && !overwrite) throw alreadyHolds(dir, existing)
      for (const name of existing) await rm(join(dir, name), { recursive: true, force: true })
      await mkdir(dir, { recursive: true })
      await writeFile(join(dir, "recipe.json"), `${resolvedRecipe}\n`)
    },
    catch: (cause) =>
      cause instanceof RunDirectoryError ? cause : new RunDirectoryError({ path: dir, message: `cannot prepare ${dir}: ${messageOf(cause)}`, cause })
  })
