import { type ChatRow, type DataCursor, type DatasetRow, type Datum, type Metrics } from "../../ports/index.js"
import { stateKey } from "./state-key.js"

/** Facts about the run fixed before it starts. */
export interface RunInfo {
  readonly runId: string
  /** Digest of the resolved recipe, recorded in checkpoints. */
  readonly recipeHash: string
  readonly startedAt: number
}

/** A dataset row and the URI it came from, so later stages can name both in errors. */
export interface SourcedRow<A> extends DatasetRow<A> {
  readonly uri: string
}

/** Final, first and best numbers of a run, kept as it goes and written at the end. */
export interface RunSummary {
  readonly steps: number
  readonly final: Metrics
  readonly firstEval?: { readonly step: number; readonly metrics: Metrics }
  readonly lastEval?: { readonly step: number; readonly metrics: Metrics }
  readonly bestEval?: { readonly step: number; readonly metrics: Metrics }
  readonly checkpoints: ReadonlyArray<string>
}

/** The empty summary a run starts from. */
export const emptySummary: RunSummary = { steps: 0, final: {}, checkpoints: [] }

/** The run-state keys of the built-in stages. */
export const RunKeys = {
  runInfo: stateKey<RunInfo>("runInfo"),
  trainRows: stateKey<ReadonlyArray<SourcedRow<ChatRow>>>("trainRows"),
  evalRows: stateKey<ReadonlyArray<SourcedRow<ChatRow>>>("evalRows"),
  trainData: stateKey<ReadonlyArray<Datum>>("trainData"),
  evalData: stateKey<ReadonlyArray<Datum>>("evalData"),
  totalSteps: stateKey<number>("totalSteps"),
  /** Fingerprint of the rendered data (see `fingerprintData`). */
  dataDigest: stateKey<string>("dataDigest"),
  /** The fingerprint a resumed run's data must have: the checkpoint's, or null for a new run. */
  expectedDataDigest: stateKey<string | null>("expectedDataDigest"),
  dataCursor: stateKey<DataCursor>("dataCursor"),
  batch: stateKey<ReadonlyArray<Datum>>("batch"),
  trainMetrics: stateKey<Metrics>("trainMetrics"),
  summary: stateKey<RunSummary>("summary"),
  lastCheckpoint: stateKey<string | null>("lastCheckpoint")
} as const
