import { Effect } from "effect"
import { InvalidRequestError, MetricsSink } from "../../ports/index.js"
import { withEval } from "./eval-summary.js"
import { forwardInBatches } from "./forward-batches.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** How many held-out examples go into one forward call. */
export interface EvaluateAccuracyConfig {
  readonly batchSize: number
}

/** Index of the largest value (the first on ties). */
const argmax = (values: ReadonlyArray<number>): number => {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}

/**
 * Held-out accuracy of a classifier (the most likely class in `class_logprobs` against the
 * label in `target_tokens`) and its mean NLL per example, from forward passes without
 * gradients. Sent as an `eval` event at the current step and kept in the run summary
 * (first, last, and best by accuracy).
 */
export const evaluateAccuracy = (config: EvaluateAccuracyConfig) =>
  defineStage({
    name: "eval",
    description: `held-out accuracy and NLL, batches of ${config.batchSize}`,
    reads: [RunKeys.evalData, RunKeys.summary],
    writes: [RunKeys.summary],
    run: Effect.fnUntraced(function*(context) {
      const sink = yield* MetricsSink
      const data = context.get(RunKeys.evalData)
      if (data.length === 0) return yield* Effect.logWarning("no held-out examples; eval skipped")
      let loss = 0
      let weights = 0
      let correct = 0
      const outputs = yield* forwardInBatches(data, config.batchSize)
      for (const [batch, output] of outputs.entries()) {
        const start = batch * config.batchSize
        loss += output.metrics["loss:sum"] ?? 0
        weights += output.metrics["weights:sum"] ?? 0
        for (const [i, out] of output.loss_fn_outputs.entries()) {
          const classes = out["class_logprobs"]
          if (classes === undefined) {
            return yield* new InvalidRequestError({
              operation: "forward",
              message: "the model returned no class_logprobs: held-out accuracy needs a classifier (an mlp or cnn model)"
            })
          }
          if (argmax(classes.data) === data[start + i]!.loss_fn_inputs["target_tokens"]!.data[0]) correct += 1
        }
      }
      const metrics = { eval_accuracy: correct / data.length, eval_nll: loss / Math.max(weights, 1), eval_examples: data.length }
      yield* sink.event({ name: "eval", step: context.step, data: metrics })
      context.set(
        RunKeys.summary,
        withEval(context.get(RunKeys.summary), context.step, metrics, (candidate, best) => candidate["eval_accuracy"]! > best["eval_accuracy"]!)
      )
    })
  })
