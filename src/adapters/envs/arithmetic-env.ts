import { Schema } from "effect"
import { ChatRow, type EnvFactory, singleTurnEnv } from "../../ports/index.js"

const decodeRow = Schema.decodeUnknownSync(ChatRow)

/**
 * The built-in `arithmetic` environment: a row is a chat, `{"messages": [...]}`, whose last
 * assistant message is the answer (the rows of a supervised arithmetic dataset serve as they
 * are). The policy answers the messages before it once; the reward is 1 when the reply,
 * trimmed, is exactly the answer, and 0 otherwise. Any task with one checkable answer per
 * prompt fits, not only sums.
 */
export const arithmeticEnv: EnvFactory = (row) => {
  const { messages } = decodeRow(row)
  const last = messages.findLastIndex((message) => message.role === "assistant")
  if (last < 0) throw new Error("the row has no assistant message holding the answer")
  if (last === 0) throw new Error("the row has no message before its assistant answer, so no prompt")
  const answer = messages[last]!.content.trim()
  return singleTurnEnv(messages.slice(0, last), (reply) => (reply.trim() === answer ? 1 : 0))
}
