import type { Tokenizer } from "../../ports/index.js"
import type { RenderedChat } from "./chat-renderer.js"

/** How trained text is marked: `open` before each trained run of tokens, `close` after it. */
export interface TrainedMarks {
  readonly open: string
  readonly close: string
}

/**
 * The text of a rendered conversation with every run of trained tokens (weight > 0)
 * between marks, so a user sees what the loss reads before paying for a run. Runs are
 * decoded whole, so a character split across tokens is not broken by a mark inside it.
 */
export const markTrained = (tokenizer: Tokenizer["Service"], rendered: RenderedChat, marks: TrainedMarks): string => {
  let text = ""
  let start = 0
  const { tokens, weights } = rendered
  for (let i = 1; i <= tokens.length; i++) {
    const trained = weights[start]! > 0
    if (i < tokens.length && (weights[i]! > 0) === trained) continue
    const piece = tokenizer.decode(tokens.slice(start, i))
    text += trained ? `${marks.open}${piece}${marks.close}` : piece
    start = i
  }
  return text
}
