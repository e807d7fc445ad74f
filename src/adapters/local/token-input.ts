import { type LanguageModelArchitecture, type ModelInput, toInts } from "../../ports/index.js"

/** Whether `id` is an id among `size` (a token of the vocabulary, a class): an integer in [0, size). */
export const isIdBelow = (size: number) => (id: number): boolean => Number.isInteger(id) && id >= 0 && id < size

/**
 * The token ids of a model input that a transformer can read, or what is wrong with it:
 * a chunk that is not text, no tokens, more tokens than the context holds, an id outside
 * the vocabulary. `subject` names the input in the message ("model_input", "the prompt").
 */
export const tokenIds = (
  input: ModelInput,
  arch: LanguageModelArchitecture,
  subject: string
): ReadonlyArray<number> | string => {
  let count = 0
  for (const chunk of input.chunks) {
    if (chunk.type !== "encoded_text") return `${subject} holds a ${chunk.type} chunk; a transformer reads encoded_text`
    count += chunk.tokens.length
  }
  // Counted before the ids are gathered, so an oversized input is refused without copying it.
  if (count === 0) return `${subject} is empty`
  if (count > arch.contextLength) {
    return `${subject} has ${count} tokens, more than the model's context length ${arch.contextLength}`
  }
  const ids = toInts(input)
  if (!ids.every(isIdBelow(arch.vocabSize))) {
    return `${subject} holds a token id outside [0, ${arch.vocabSize})`
  }
  return ids
}
