import { Effect, Schema } from "effect"

/** Shapes of the learning-rate curve after warmup. */
export type LrScheduleKind = "constant" | "linear" | "cosine"

/** A learning-rate schedule over a run of `totalSteps` optimizer steps. */
export interface LrSchedule {
  readonly kind: LrScheduleKind
  readonly baseLr: number
  readonly warmupSteps: number
  readonly totalSteps: number
  /** The rate decays towards `baseLr * minLrRatio` (linear and cosine). */
  readonly minLrRatio: number
}

/** A schedule that would hand the optimizer a rate of zero or less, or cannot be followed. */
export class LrScheduleError extends Schema.TaggedError<LrScheduleError>()("LrScheduleError", {
  message: Schema.String,
  /** What the problem came from, when it came from a failure elsewhere; for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

const problemOf = ({ baseLr, warmupSteps, totalSteps, minLrRatio }: LrSchedule): string | undefined => {
  if (!(baseLr > 0) || !Number.isFinite(baseLr)) return `the learning rate must be positive, got ${baseLr}`
  if (!Number.isInteger(totalSteps) || totalSteps < 1) return `total steps must be a positive integer, got ${totalSteps}`
  if (!Number.isInteger(warmupSteps) || warmupSteps < 0) return `warmup steps must be a non-negative integer, got ${warmupSteps}`
  if (!(minLrRatio >= 0 && minLrRatio <= 1)) return `minLrRatio must be within [0, 1], got ${minLrRatio}`
  return undefined
}

/** Checks a schedule, so that every rate it yields within its steps is positive and finite. */
export const validateLrSchedule = (schedule: LrSchedule): Effect.Effect<LrSchedule, LrScheduleError> => {
  const problem = problemOf(schedule)
  return problem === undefined ? Effect.succeed(schedule) : Effect.fail(new LrScheduleError({ message: problem }))
}

/**
 * The rate for the optimizer step with 0-based index `step`. Warmup rises linearly to the
 * base rate over `warmupSteps` steps, starting above zero; decay then runs until the last
 * step, which stops short of the floor, so a floor of zero still yields positive rates.
 * Past `totalSteps` the rate stays at the floor.
 */
export const learningRateAt = (schedule: LrSchedule, step: number): number => {
  const { kind, baseLr, warmupSteps, totalSteps, minLrRatio } = schedule
  if (step < warmupSteps) return (baseLr * (step + 1)) / warmupSteps
  if (kind === "constant") return baseLr
  const decaySteps = Math.max(1, totalSteps - warmupSteps)
  const progress = Math.min(1, (step - warmupSteps) / decaySteps)
  const floor = baseLr * minLrRatio
  const shape = kind === "linear" ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress))
  return floor + (baseLr - floor) * shape
}
