// Bit-level conversions between float32 and the two 16-bit float formats of checkpoints.
// They work on bit patterns, never through JavaScript numbers, so NaN payloads survive and a
// value widened from F16 or BF16 narrows back to the very same 16 bits.

/** The float32 bit pattern (unsigned) of an IEEE half-precision bit pattern; exact, subnormals included. */
export const halfToFloatBits = (half: number): number => {
  const sign = (half & 0x8000) << 16
  const exponent = (half >>> 10) & 0x1f
  const mantissa = half & 0x3ff
  // 127 - 15: the difference of the two exponent biases.
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0
  if (mantissa === 0) return sign >>> 0
  // A subnormal half, mantissa x 2^-24, is a normal float32: shift its leading one into the
  // implicit bit and lower the exponent by as much.
  let significand = mantissa
  let shift = 0
  while ((significand & 0x400) === 0) {
    significand <<= 1
    shift += 1
  }
  return (sign | ((113 - shift) << 23) | ((significand & 0x3ff) << 13)) >>> 0
}

/**
 * The half-precision bit pattern of a float32 bit pattern, rounded to nearest, ties to even
 * (as torch's `.half()` does): too large becomes infinity, too small a subnormal or zero.
 * A NaN keeps the top ten bits of its payload (a quiet NaN when those are all zero).
 */
export const floatBitsToHalf = (bits: number): number => {
  const sign = (bits >>> 16) & 0x8000
  const exponent = (bits >>> 23) & 0xff
  const mantissa = bits & 0x7fffff
  if (exponent === 0xff) {
    const payload = mantissa >>> 13
    return sign | 0x7c00 | (mantissa === 0 ? 0 : payload === 0 ? 0x200 : payload)
  }
  const unbiased = exponent - 127
  if (unbiased > 15) return sign | 0x7c00
  // The bits that are dropped, and how many: a normal half keeps 10 of the 23 mantissa bits;
  // a subnormal one keeps fewer of the 24-bit significand, the implicit one included.
  const normal = unbiased >= -14
  const shift = normal ? 13 : -unbiased - 1
  if (shift > 24) return sign
  const kept = normal ? ((unbiased + 15) << 10) | (mantissa >>> 13) : (mantissa | 0x800000) >>> shift
  const dropped = normal ? mantissa & 0x1fff : (mantissa | 0x800000) & ((1 << shift) - 1)
  const halfway = 1 << (shift - 1)
  // A carry out of the mantissa raises the exponent, up to infinity (0x7c00): still correct.
  const roundUp = dropped > halfway || (dropped === halfway && (kept & 1) === 1)
  return sign | (kept + (roundUp ? 1 : 0))
}

/** The float32 bit pattern of a bfloat16 bit pattern: its top 16 bits. */
export const bfloat16ToFloatBits = (bfloat: number): number => (bfloat << 16) >>> 0

/**
 * The bfloat16 bit pattern of a float32 bit pattern, rounded to nearest, ties to even (as
 * torch's `.bfloat16()` does). A NaN keeps its top payload bits (quiet when they are all zero).
 */
export const floatBitsToBfloat16 = (bits: number): number => {
  const top = bits >>> 16
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (top & 0x7f) === 0 ? top | 0x40 : top
  // Adding just under half, plus the kept lowest bit, rounds ties to even. No NaN reaches
  // here, so the sum stays below 2^32.
  return ((bits + 0x7fff + (top & 1)) >>> 16) & 0xffff
}

/** Float32 values of little-endian 16-bit floats (`bytes.length` even), widened exactly. */
export const widen16 = (bytes: Uint8Array, format: "F16" | "BF16"): Float32Array => {
  // A copy, since the source bytes need not lie on a 2-byte boundary; made by the constructor,
  // as a Node Buffer's `slice` would share memory instead.
  const halves = new Uint16Array(new Uint8Array(bytes).buffer)
  const values = new Float32Array(halves.length)
  const out = new Uint32Array(values.buffer)
  const widenOne = format === "F16" ? halfToFloatBits : bfloat16ToFloatBits
  for (let index = 0; index < halves.length; index++) out[index] = widenOne(halves[index]!)
  return values
}

/** Little-endian 16-bit floats of float32 values, each rounded to nearest, ties to even. */
export const narrow16 = (values: Float32Array, format: "F16" | "BF16"): Uint8Array => {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length)
  const halves = new Uint16Array(values.length)
  const narrowOne = format === "F16" ? floatBitsToHalf : floatBitsToBfloat16
  for (let index = 0; index < bits.length; index++) halves[index] = narrowOne(bits[index]!)
  return new Uint8Array(halves.buffer)
}
