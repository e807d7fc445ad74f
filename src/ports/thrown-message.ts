/**
 * The message of something thrown or rejected: an `Error`'s own message, else its text.
 * For building a tagged error's `message` while the thrown value itself goes in its `cause`.
 *
 * Not part of the public API (kept out of the ports index): a helper of sous's own layers.
 */
export const messageOf = (thrown: unknown): string => {
  if (thrown instanceof Error) return thrown.message
  return String(thrown)
}
