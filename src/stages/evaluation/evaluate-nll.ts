import { Effect } from "effect"
import { type Datum, MetricsSink, Tokenizer } from "../../ports/index.js"
import { withEval } from "./eval-summary.js"
import { forwardInBatches } from "./forward-batches.js"
import { requireFinite } from "../run/diverged.js"
import { RunKeys } from "../run/run-keys.js"
import { defineStage } from "../run/stage.js"

/** How many held-out examples go into one forward call. */
export interface EvaluateNllConfig {
  readonly batchSize: number
}

/**
 * UTF-8 bytes of the text of the trained targets (weight > 0). Special tokens have no text
 * and count no bytes, though their loss counts: that is the convention of bits per byte.
 */
const trainedTextBytes = (data: ReadonlyArray<Datum>, tokenizer: Tokenizer["Service"]): number => {
  const specials = new Set(Object.values(tokenizer.specialTokens))
  const encoder = new TextEncoder()
  let bytes = 0
  for (const datum of data) {
    const targets = datum.loss_fn_inputs["target_tokens"]?.data ?? []
    const weights = datum.loss_fn_inputs["weights"]?.data ?? []
    const text = targets.filter((token, i) => weights[i]! > 0 && !specials.has(token))
    bytes += encoder.encode(tokenizer.decode(text)).length
  }
  return bytes
}

/**
 * Held-out negative log-likelihood per trained token, from forward passes without gradients,
 * and bits per byte (the total NLL in bits over the trained text's UTF-8 bytes), which
 * compares across tokenizers where NLL per token does not.
 * Sent as an `eval` event at the current step (metrics.jsonl keeps one line per optimizer
 * step) and kept in the run summary (first, last, best).
 */
export const evaluateNll = (config: EvaluateNllConfig) =>
  defineStage({
    name: "eval",
    description: `held-out NLL and bits per byte, batches of ${config.batchSize}`,
    reads: [RunKeys.evalData, RunKeys.summary],
    writes: [RunKeys.summary],
    run: Effect.fnUntraced(function*(context) {
      const sink = yield* MetricsSink
      const tokenizer = yield* Tokenizer
      const data = context.get(RunKeys.evalData)
      // No held-out data means no measurement; an NLL of 0 would read as a perfect model.
      if (data.length === 0) return yield* Effect.logWarning("no held-out examples; eval skipped")
      let loss = 0
      let weights = 0
      for (const output of yield* forwardInBatches(data, config.batchSize)) {
        loss += output.metrics["loss:sum"] ?? 0
        weights += output.metrics["weights:sum"] ?? 0
      }
      const bytes = trainedTextBytes(data, tokenizer)
      const metrics = {
        eval_nll: loss / Math.max(weights, 1),
        eval_tokens: weights,
        ...(bytes > 0 ? { eval_bpb: loss / Math.LN2 / bytes } : {})
      }
      yield* sink.event({ name: "eval", step: context.step, data: metrics })
      yield* requireFinite(context.step, metrics, "evaluation")
      context.set(RunKeys.summary, withEval(context.get(RunKeys.summary), context.step, metrics))
    })
  })
