/**
 * The 32-bit finaliser of MurmurHash3: spreads every input bit over the whole word, so
 * nearby inputs (consecutive steps, epochs, request ordinals) give unrelated outputs.
 * Answers an unsigned 32-bit integer; the input is taken modulo 2^32.
 *
 * It lives in the ports because ports are the one layer every other layer may import: data
 * order and sampling seeds (stages) and fault injection (server) share it, and what they
 * draw must stay bit-identical across releases, since resumed runs re-derive the batches
 * and seeds of the run they continue.
 */
export const seedMix = (value: number): number => {
  let h = value >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}
