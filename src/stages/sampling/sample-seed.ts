import { seedMix } from "../../ports/seed-mix.js"

/**
 * A sampling seed in [0, 2^31) from the recipe's seed and the position of a draw (the step,
 * the prompt's index in the batch, ...). Each draw of a run gets its own seed, and a resumed
 * run derives the very seeds the uninterrupted run used, so it samples the same replies.
 */
export const sampleSeed = (seed: number, ...parts: ReadonlyArray<number>): number => {
  // Murmur3-style mixing of each part into the state, then its finaliser: nearby positions get unrelated seeds.
  let state = (seed ^ 0x9747b28c) >>> 0
  for (const part of parts) {
    let k = Math.imul(part >>> 0, 0xcc9e2d51)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, 0x1b873593)
    state ^= k
    state = (state << 13) | (state >>> 19)
    state = (Math.imul(state, 5) + 0xe6546b64) >>> 0
  }
  return seedMix(state) % 2 ** 31
}
