import type { ChatMessage } from "../../../src/ports/chat.js"

/** The special tokens of the Llama 3 chat format, for a byte tokenizer that renders it. */
export const llama3Specials = ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]

/** A system prompt and two exchanges. */
export const conversation: ReadonlyArray<ChatMessage> = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "2+2?" },
  { role: "assistant", content: "4" },
  { role: "user", content: "and 3+3?" },
  { role: "assistant", content: "6" }
]

/** An empty system prompt and an empty reply, whose end marker is still trained. */
export const withEmptyMessages: ReadonlyArray<ChatMessage> = [
  { role: "system", content: "" },
  { role: "user", content: "hi" },
  { role: "assistant", content: "" }
]

/** Expected renderer output, spelled piece by piece: [UTF-8 text or special id, weight]. */
export const expected = (pieces: ReadonlyArray<readonly [string | number, 0 | 1]>) => {
  const tokens: Array<number> = []
  const weights: Array<number> = []
  for (const [piece, weight] of pieces) {
    const ids = typeof piece === "number" ? [piece] : [...Buffer.from(piece, "utf8")]
    tokens.push(...ids)
    weights.push(...ids.map(() => weight))
  }
  return { tokens, weights }
}
