// An environment module for `sous run`: the recipe names this file and the export below.
// Node runs it as TypeScript directly. It is an `EnvFactory` (see `sous`'s `Env` types):
// a function from a data row to an episode, here one question and one reply.
//
// The reward is 1 for the exact sum; a wrong reply earns partial credit, 0.5 times the share of
// the answer's digits it has right in place (counted from the right, as sums are written),
// so a reply that is nearly right scores above one that is far off. Only the exact sum
// scores 1, so the evaluation's exact match is the share of exactly right sums.

interface ChatMessage { readonly role: "system" | "user" | "assistant"; readonly content: string }
interface Row { readonly messages: ReadonlyArray<ChatMessage> }

/** Partial credit for a reply to a question whose answer is `answer`. */
export const digitCredit = (reply: string, answer: string): number => {
  const given = reply.trim()
  if (given === answer) return 1
  if (!/^\d+$/.test(given)) return 0
  let right = 0
  for (let place = 1; place <= answer.length; place++) if (given.at(-place) === answer.at(-place)) right += 1
  // A reply of the wrong length is off by a power of ten, whatever its digits.
  return given.length === answer.length ? (0.5 * right) / answer.length : 0
}

/** One episode per row: the messages before the answer are the prompt. */
export const sumEnv = (row: Row) => {
  const messages = row.messages
  const answer = messages.at(-1)
  if (answer?.role !== "assistant") throw new Error("the row must end with the assistant's answer")
  return {
    initialObservation: () => messages.slice(0, -1),
    step: (reply: string) => ({ reward: digitCredit(reply, answer.content.trim()), done: true })
  }
}
