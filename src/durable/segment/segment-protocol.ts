/**
 * What a segment process and its orchestrator tell each other: one JSON object per line, the
 * process on its stdout, the orchestrator on the process's stdin, decoded with these schemas
 * on the other side. Anything else on stdout (a library's banner) is not a line of the
 * protocol and is skipped.
 *
 * A process lives across segments: after each checkpoint it commits (but `final`) it says
 * `waiting` and holds the run there until the orchestrator answers `continue` (the next
 * segment, in the same process, from the state in its memory, which is what the checkpoint
 * holds) or `stop` (it ends, `checkpoint`).
 */
import { Option, Schema } from "effect"

/** Training goes on: the last step done and the rate since the segment's first step. */
export const SegmentProgress = Schema.Struct({
  type: Schema.Literal("progress"),
  step: Schema.Int,
  stepsPerSecond: Schema.Finite
})
export type SegmentProgress = typeof SegmentProgress.Type

/** The segment committed a checkpoint (its manifest is written). */
export const SegmentCheckpoint = Schema.Struct({
  type: Schema.Literal("checkpoint"),
  name: Schema.String,
  step: Schema.Int
})
export type SegmentCheckpoint = typeof SegmentCheckpoint.Type

/** The process committed `checkpoint` (at `step`) and waits for a {@link SegmentCommand}. */
export const SegmentWaiting = Schema.Struct({
  type: Schema.Literal("waiting"),
  checkpoint: Schema.String,
  step: Schema.Int
})
export type SegmentWaiting = typeof SegmentWaiting.Type

/**
 * What the orchestrator tells the process: a waiting one to run the next segment or to end;
 * a training one to checkpoint after the step it is on (then it waits, as after any commit).
 */
export const SegmentCommand = Schema.Struct({ type: Schema.Literals(["continue", "stop", "checkpoint"]) })
export type SegmentCommand = typeof SegmentCommand.Type

/**
 * How a segment process ended, its last line:
 * - `checkpoint`: it committed `checkpoint` (at `step`) and stopped there;
 * - `finished`: the run is over (its final checkpoint committed, its summary written);
 * - `lost`: another attempt committed first; `checkpoint` is the newest committed one,
 *   from which the next segment starts; nothing of this attempt is part of the run;
 * - `failed`: `message` says why, `errorTag` is the error's `_tag`, and `retryable` is false
 *   for bad input (a bad recipe or data, a refused or damaged checkpoint), which fails the
 *   same way however often it runs.
 * `checkpoint` is null when the store holds none.
 */
export const SegmentEnd = Schema.Struct({
  type: Schema.Literal("end"),
  outcome: Schema.Literals(["checkpoint", "finished", "lost", "failed"]),
  step: Schema.Int,
  checkpoint: Schema.NullOr(Schema.String),
  message: Schema.optionalKey(Schema.String),
  errorTag: Schema.optionalKey(Schema.String),
  retryable: Schema.optionalKey(Schema.Boolean)
})
export type SegmentEnd = typeof SegmentEnd.Type

/** Any line of the protocol. */
export const SegmentLine = Schema.Union([SegmentProgress, SegmentCheckpoint, SegmentWaiting, SegmentEnd])
export type SegmentLine = typeof SegmentLine.Type

/** The exit code a segment process ends with, by outcome. */
export const segmentExitCode = (outcome: SegmentEnd["outcome"]): number =>
  outcome === "failed" ? 1 : outcome === "lost" ? 3 : 0

const decodeLine = Schema.decodeUnknownOption(Schema.fromJsonString(SegmentLine))

/** The protocol line `text` holds, or none for any other output. */
export const parseSegmentLine = (text: string): Option.Option<SegmentLine> =>
  text.startsWith("{") ? decodeLine(text) : Option.none()

/** A protocol line as the segment process writes it, newline included. */
export const formatSegmentLine = (line: SegmentLine): string => `${JSON.stringify(line)}\n`

const decodeCommand = Schema.decodeUnknownOption(Schema.fromJsonString(SegmentCommand))

/** The command `text` holds, or none for a line that is not one. */
export const parseSegmentCommand = (text: string): Option.Option<SegmentCommand> => decodeCommand(text)

/** A command as the orchestrator writes it, newline included. */
export const formatSegmentCommand = (command: SegmentCommand): string => `${JSON.stringify(command)}\n`
