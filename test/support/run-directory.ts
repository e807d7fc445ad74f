import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Schema } from "effect"
import { CheckpointManifest } from "../../src/ports/index.js"

// Reading what a run wrote into its directory (`sous run --out <dir>`, or `runRecipe` with
// `runDir`): `summary.json`, `metrics.jsonl`, `events.jsonl`, `recipe.json` and
// `checkpoints/<name>/manifest.json` beside the blobs it names. A pipeline's directory holds
// its own `summary.json` and one such run directory per stage, `<dir>/<stage>`.
//
// The types are light: what the tests look into, not a schema of the files (the manifest
// excepted, which is decoded with the one the checkpoints are written with).

/** A line of `metrics.jsonl`: the step and the numbers logged at it. */
export interface MetricsLine {
  readonly step: number
  readonly [key: string]: number
}

/** A line of `events.jsonl`. */
export interface RunEvent {
  readonly time: string
  readonly name: string
  readonly step: number
  readonly data?: Readonly<Record<string, unknown>>
}

/** An evaluation the summary keeps: its step and metrics. */
export interface SummaryEval {
  readonly step: number
  readonly metrics: Readonly<Record<string, number>>
}

/**
 * A run's `summary.json`. The evaluations are absent from a run that never evaluated;
 * they are typed as present because the tests that read them expect them there.
 */
export interface RunSummary {
  readonly runId: string
  readonly steps: number
  readonly final: Readonly<Record<string, number>>
  readonly firstEval: SummaryEval
  readonly lastEval: SummaryEval
  readonly bestEval: SummaryEval
  readonly checkpoints: ReadonlyArray<string>
}

/** A pipeline's `summary.json`: each stage, in order, with its own summary. */
export interface PipelineSummary {
  readonly pipeline: string
  readonly stages: ReadonlyArray<{ readonly name: string; readonly kind: string; readonly steps: number; readonly summary: RunSummary }>
}

/** The resolved recipe a run started with (`recipe.json`). */
export interface RecipeFile {
  readonly kind: string
  readonly model: { readonly from?: { readonly store: string; readonly checkpoint: string } }
  readonly [key: string]: unknown
}

/** Everything a finished run wrote but its checkpoints. */
export interface RunDirectory {
  readonly summary: RunSummary
  readonly metrics: ReadonlyArray<MetricsLine>
  readonly events: ReadonlyArray<RunEvent>
  /** Absent where the run was started in code (`runRecipe`), which writes none. */
  readonly recipe: RecipeFile | undefined
}

const readJson = (file: string): unknown => JSON.parse(readFileSync(file, "utf8"))

const readJsonl = (file: string): ReadonlyArray<unknown> =>
  readFileSync(file, "utf8").trim().split("\n").map((line) => JSON.parse(line) as unknown)

/** The lines of `<runDir>/metrics.jsonl`. */
export const readMetrics = (runDir: string): ReadonlyArray<MetricsLine> =>
  readJsonl(join(runDir, "metrics.jsonl")) as ReadonlyArray<MetricsLine>

/** `metrics.jsonl` as text without the wall-clock seconds of each line, which differ run to run. */
export const metricsTextWithoutSeconds = (runDir: string): string =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8").replace(/"seconds":[0-9.e-]+/g, "")

/** The lines of `<runDir>/events.jsonl`, only those named `name` if given. */
export const readEvents = (runDir: string, name?: string): ReadonlyArray<RunEvent> => {
  const events = readJsonl(join(runDir, "events.jsonl")) as ReadonlyArray<RunEvent>
  return name === undefined ? events : events.filter((event) => event.name === name)
}

/** `<runDir>/summary.json`; pass {@link PipelineSummary} for a pipeline's. */
export const readSummary = <S = RunSummary>(runDir: string): S => readJson(join(runDir, "summary.json")) as S

/** `<runDir>/recipe.json`. */
export const readRecipe = (runDir: string): RecipeFile => readJson(join(runDir, "recipe.json")) as RecipeFile

/** The summary, metrics, events and (where there is one) resolved recipe of a finished run. */
export const readRun = (runDir: string): RunDirectory => ({
  summary: readSummary(runDir),
  metrics: readMetrics(runDir),
  events: readEvents(runDir),
  recipe: existsSync(join(runDir, "recipe.json")) ? readRecipe(runDir) : undefined
})

/** Where the manifest of checkpoint `name` lies in a run directory. */
export const manifestFile = (runDir: string, name: string): string => join(runDir, "checkpoints", name, "manifest.json")

/** Whether checkpoint `name` of the run is committed: its manifest is written. */
export const hasCheckpoint = (runDir: string, name: string): boolean => existsSync(manifestFile(runDir, name))

/** The manifest of checkpoint `name` (`final`, `step-00000012`, ...), decoded: a manifest that does not decode fails the test. */
export const readManifest = (runDir: string, name: string): CheckpointManifest =>
  Schema.decodeUnknownSync(CheckpointManifest)(readJson(manifestFile(runDir, name)))

/** The key, in the run's own checkpoint store, of the state blob of checkpoint `name` (`final` unless told). */
export const stateBlobKey = (runDir: string, name = "final"): string => {
  const { state } = readManifest(runDir, name)
  if (state._tag !== "Blob") throw new Error(`checkpoint ${name} in ${runDir} keeps its state at ${state.path}, not in a blob`)
  return state.key
}

/** The bytes of the state blob of checkpoint `name` (`final` unless told). */
export const readCheckpointState = (runDir: string, name = "final"): Buffer =>
  readFileSync(join(runDir, "checkpoints", stateBlobKey(runDir, name)))

// For kill points, asked while the run writes: a file may not exist yet, and its last line
// may be cut short.

/** Complete lines of `metrics.jsonl` so far: 0 before the file exists. */
export const metricsLineCount = (runDir: string): number => {
  const file = join(runDir, "metrics.jsonl")
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").length - 1 : 0
}

/** True once the checkpoint stage of `step` or later has sent `event` ("stage.start" or "stage.end"). */
const checkpointStage = (runDir: string, event: "stage.start" | "stage.end", step: number) => () => {
  const file = join(runDir, "events.jsonl")
  return existsSync(file) && readFileSync(file, "utf8").split("\n").some((line) =>
    line.includes(`"${event}"`) && line.includes("\"stage\":\"checkpoint\"") && (JSON.parse(line) as { step: number }).step >= step
  )
}

/** True once a checkpoint stage at `step` or later has ended in `runDir`, so a kill falls after a commit. */
export const checkpointDone = (runDir: string, step: number): (() => boolean) => checkpointStage(runDir, "stage.end", step)

/** True once a checkpoint stage at `step` or later has started in `runDir` (its end may not have come). */
export const checkpointStarted = (runDir: string, step: number): (() => boolean) => checkpointStage(runDir, "stage.start", step)
