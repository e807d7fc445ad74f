import { type Datum, float32, fromInts, int64 } from "../../ports/index.js"
import type { RenderedChat } from "./chat-renderer.js"

/**
 * Turns a rendered sequence into a `cross_entropy` datum: position i of the input predicts
 * token i + 1, so the input drops the last token and targets and weights drop the first.
 * Sequences longer than `contextLength + 1` tokens are cut to fit; the caller counts them.
 */
export const supervisedDatum = (rendered: RenderedChat, contextLength: number): Datum => {
  const tokens = rendered.tokens.slice(0, contextLength + 1)
  const weights = rendered.weights.slice(0, contextLength + 1)
  return {
    model_input: fromInts(tokens.slice(0, -1)),
    loss_fn_inputs: {
      target_tokens: int64(tokens.slice(1)),
      weights: float32(weights.slice(1))
    }
  }
}

/** Sum of the loss weights of a datum: the number of tokens it trains. */
export const trainedTokens = (datum: Datum): number =>
  (datum.loss_fn_inputs["weights"]?.data ?? []).reduce((total, weight) => total + weight, 0)
