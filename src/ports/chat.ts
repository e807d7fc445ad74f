import { Schema } from "effect"

/** Who speaks a chat message. */
export const ChatRole = Schema.Literals(["system", "user", "assistant"])
export type ChatRole = typeof ChatRole.Type

/** One chat message. Empty content is allowed (an empty system prompt, say). */
export const ChatMessage = Schema.Struct({
  role: ChatRole,
  content: Schema.String
})
export type ChatMessage = typeof ChatMessage.Type

/** One row of a chat dataset: `{"messages": [...]}` with at least one message. */
export const ChatRow = Schema.Struct({
  messages: Schema.Array(ChatMessage).check(Schema.isMinLength(1))
})
export type ChatRow = typeof ChatRow.Type
