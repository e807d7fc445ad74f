import { Effect } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { type Datum, float32, type ForwardBackwardOutput, InvalidRequestError, type Pending, type TensorData, type TrainingCallError, type TrainingClient, TrainingError } from "../../ports/index.js"

/** What a {@link CustomLoss} returns: its value, its gradient and metrics to report. */
export interface CustomLossResult {
  readonly loss: number
  /** dLoss/dlogprobs: one array per datum, each as long as that datum's logprobs. */
  readonly gradients: ReadonlyArray<Float32Array>
  /** Keyed `name:reduction` (`accuracy:mean`, ...) like every protocol metric. */
  readonly metrics: Readonly<Record<string, number>>
}

/**
 * A loss over the per-token logprobs of each datum's `target_tokens`, as `forward` returns
 * them. sous has no automatic differentiation outside a backend, so the loss hands back its
 * gradient with respect to the logprobs as well as its value. It may throw on data it cannot
 * take; {@link forwardBackwardCustom} turns that into an `InvalidRequestError`.
 */
export type CustomLoss = (
  data: ReadonlyArray<Datum>,
  logprobs: ReadonlyArray<Float32Array>
) => CustomLossResult

const operation = "forwardBackwardCustom"

const invalid = (message: string, cause?: unknown) => new InvalidRequestError({ operation, message, cause })

/** The datum with `weights` in place of its own, keeping only what cross-entropy reads. */
const withWeights = (datum: Datum, weights: ReadonlyArray<number>): Datum => ({
  model_input: datum.model_input,
  loss_fn_inputs: { target_tokens: datum.loss_fn_inputs["target_tokens"]!, weights: float32(weights) }
})

// The surrogate passes rebuild every datum as cross-entropy input, so any other key (say
// `advantages`) would be dropped without a word; refusing it says the loss must read it
// from elsewhere. The protocol's client-side version has the same rule.
const datumProblem = (datum: Datum): string | undefined => {
  const extra = Object.keys(datum.loss_fn_inputs).find((key) => key !== "target_tokens" && key !== "weights")
  if (extra !== undefined) return `loss_fn_inputs.${extra} is not allowed (a custom loss takes target_tokens and weights only)`
  if (datum.loss_fn_inputs["target_tokens"] === undefined) return "loss_fn_inputs.target_tokens is missing"
  return undefined
}

const gradientProblem = (gradient: Float32Array | undefined, length: number): string | undefined => {
  if (gradient === undefined) return "has no gradient"
  if (gradient.length !== length) return `has a gradient of ${gradient.length} values for ${length} logprobs`
  if (!gradient.every(Number.isFinite)) return "has a gradient value that is not finite"
  return undefined
}

/**
 * Forward/backward for a loss the backend does not know, on any {@link TrainingClient}, by
 * the surrogate-weights method of the protocol's `forward_backward_custom`:
 *
 * 1. `forward` with `cross_entropy` and zero weights, to read each datum's target logprobs;
 * 2. the loss runs here on those logprobs and gives its value and dLoss/dlogprobs;
 * 3. `forwardBackward` with `cross_entropy` and weights = −dLoss/dlogprobs. Cross-entropy is
 *    −Σ w·logp, so its parameter gradient is then Σ (dLoss/dlogp)·(dlogp/dθ) = dLoss/dθ.
 *
 * It costs a forward pass more than a built-in loss. Submitting waits for the first pass (the
 * loss needs its logprobs) but not for the second, so an `optimStep` submitted next still
 * runs after it. The result has `loss_fn_output_type: "custom"`, the logprobs the loss saw,
 * and the loss's metrics with `loss:sum` set to its value (the surrogate's own loss means
 * nothing).
 */
export const forwardBackwardCustom = Effect.fn("CustomLoss.forwardBackwardCustom")(function*(
  client: TrainingClient["Service"],
  data: ReadonlyArray<Datum>,
  loss: CustomLoss
): Effect.fn.Return<Pending<ForwardBackwardOutput, TrainingCallError>, TrainingCallError> {
  for (const [index, datum] of data.entries()) {
    const problem = datumProblem(datum)
    if (problem !== undefined) return yield* invalid(`datum ${index}: ${problem}`)
  }
  const zeroed = data.map((datum) => withWeights(datum, datum.loss_fn_inputs["target_tokens"]!.data.map(() => 0)))
  const forward = yield* Effect.flatMap(client.forward(zeroed, "cross_entropy"), (pending) => pending.result)
  const outputs: Array<{ readonly logprobs: TensorData }> = []
  for (let index = 0; index < data.length; index++) {
    const logprobs = forward.loss_fn_outputs[index]?.["logprobs"]
    if (logprobs === undefined) {
      const message = `the forward pass returned no logprobs for datum ${index}`
      return yield* new TrainingError({ operation, message, retryable: false })
    }
    outputs.push({ logprobs })
  }
  const logprobs = outputs.map((output) => Float32Array.from(output.logprobs.data))

  const result = yield* Effect.try({
    try: () => loss(data, logprobs),
    catch: (error) => invalid(`the custom loss failed: ${messageOf(error)}`, error)
  })
  if (!Number.isFinite(result.loss)) return yield* invalid(`the custom loss is not finite: ${result.loss}`)
  const badMetric = Object.entries(result.metrics).find(([, value]) => !Number.isFinite(value))
  if (badMetric !== undefined) return yield* invalid(`the custom loss's metric ${badMetric[0]} is not finite: ${badMetric[1]}`)
  for (const [index, lp] of logprobs.entries()) {
    const problem = gradientProblem(result.gradients[index], lp.length)
    if (problem !== undefined) return yield* invalid(`datum ${index} ${problem}`)
  }
  if (result.gradients.length !== data.length) {
    return yield* invalid(`the custom loss gave ${result.gradients.length} gradients for ${data.length} datums`)
  }

  const surrogate = data.map((datum, index) => withWeights(datum, Array.from(result.gradients[index]!, (g) => -g)))
  const backward = yield* client.forwardBackward(surrogate, "cross_entropy")
  return {
    result: Effect.as(backward.result, {
      loss_fn_output_type: "custom",
      loss_fn_outputs: outputs,
      metrics: { ...result.metrics, "loss:sum": result.loss }
    })
  }
})
