import { Effect, Schema } from "effect"

/**
 * Training went numerically wrong: a loss, gradient norm or evaluation that is not a finite
 * number. The run stops at that step, before any checkpoint after it, so its newest committed
 * checkpoint is the last good state. Trying again from it would diverge the same way: a
 * durable run fails at once instead of retrying.
 */
export class DivergedError extends Schema.TaggedError<DivergedError>()("DivergedError", {
  step: Schema.Int,
  /** The metric that is not finite (`loss`, `grad_norm:mean`, `eval_nll`). */
  metric: Schema.String,
  message: Schema.String
}) {}

// What must stay finite: what every loss reports and what the optimizer measures. Other
// metrics (rewards of an RL step with no group kept, say) may be undefined by design.
const guarded = (key: string) => key === "loss" || key.startsWith("grad_norm") || key === "eval_nll"

const shown = (value: number | null | undefined) => (value === null || value === undefined ? "not a number" : String(value))

/**
 * Fails with {@link DivergedError} when a guarded metric of `metrics` (recorded at `step`,
 * with `what` saying which kind: "training" or "evaluation") is not a finite number.
 */
export const requireFinite = (
  step: number,
  metrics: Readonly<Record<string, number | null | undefined>>,
  what: string
): Effect.Effect<void, DivergedError> => {
  const bad = Object.entries(metrics).find(([key, value]) => guarded(key) && (typeof value !== "number" || !Number.isFinite(value)))
  if (bad === undefined) return Effect.void
  const [metric, value] = bad
  const lr = metrics["lr"]
  const rate = typeof lr === "number" ? ` at learning rate ${lr}` : ""
  return Effect.fail(
    new DivergedError({
      step,
      metric,
      message: `${what} diverged at step ${step}: ${metric} is ${shown(value)}${rate}. The run stops here; ` +
        "no checkpoint after this step is written, so its newest checkpoint holds the last good state. " +
        "Lower optimizer.lr (or check the data) and start again or resume."
    })
  )
}
