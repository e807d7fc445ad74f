import { describe, expect, it } from "vitest"
import {
  bfloat16ToFloatBits,
  floatBitsToBfloat16,
  floatBitsToHalf,
  halfToFloatBits,
  narrow16,
  widen16
} from "../../../src/adapters/hf-model/half-float.js"

// Node 24 rounds to half precision itself (ES2025's Math.f16round); the project's TypeScript
// lib is ES2023, which does not declare it.
const f16round = (Math as unknown as { readonly f16round: (value: number) => number }).f16round

const scratch = new DataView(new ArrayBuffer(4))
const bitsOf = (value: number) => {
  scratch.setFloat32(0, value)
  return scratch.getUint32(0)
}
const valueOf = (bits: number) => {
  scratch.setUint32(0, bits)
  return scratch.getFloat32(0)
}

describe("half-precision conversion", () => {
  it("widens the edge cases to their known float32 bit patterns", () => {
    const cases: ReadonlyArray<readonly [number, number]> = [
      [0x0000, 0x00000000], // +0
      [0x8000, 0x80000000], // -0
      [0x0001, 0x33800000], // smallest subnormal, 2^-24
      [0x03ff, 0x387fc000], // largest subnormal
      [0x8001, 0xb3800000], // -2^-24
      [0x0400, 0x38800000], // smallest normal, 2^-14
      [0x3c00, 0x3f800000], // 1
      [0xc000, 0xc0000000], // -2
      [0x7bff, 0x477fe000], // max, 65504
      [0x7c00, 0x7f800000], // +inf
      [0xfc00, 0xff800000], // -inf
      [0x7e00, 0x7fc00000], // quiet NaN
      [0x7c01, 0x7f802000] // a signalling NaN keeps its payload
    ]
    for (const [half, float] of cases) expect(halfToFloatBits(half).toString(16)).toBe(float.toString(16))
  })

  it("widens every half exactly and narrows it back to the same bits", () => {
    const wrong: Array<number> = []
    for (let half = 0; half < 0x10000; half++) {
      const bits = halfToFloatBits(half)
      const value = valueOf(bits)
      // Math.f16round leaves a half-precision value as it is (NaN aside, which it cannot tell).
      if (floatBitsToHalf(bits) !== half || (!Number.isNaN(value) && f16round(value) !== value)) wrong.push(half)
    }
    expect(wrong).toEqual([])
  })

  it("narrows float32 values to nearest, ties to even, at the edges", () => {
    const cases: ReadonlyArray<readonly [number, number]> = [
      [65504, 0x7bff],
      [65519.99609375, 0x7bff], // just under the halfway point to 65536
      [65520, 0x7c00], // halfway: ties go to the even pattern, which is infinity
      [1e9, 0x7c00],
      [-1e9, 0xfc00],
      [2 ** -25, 0x0000], // halfway between 0 and 2^-24: even is 0
      [2 ** -25 * (1 + 2 ** -23), 0x0001],
      [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 units: even is 2
      [2 ** -14 - 2 ** -25, 0x0400], // the largest subnormal's carry makes the smallest normal
      [1 + 2 ** -11, 0x3c00],
      [1 + 3 * 2 ** -11, 0x3c02],
      [1e-10, 0x0000],
      [-1e-10, 0x8000],
      [-0, 0x8000],
      [valueOf(0x00000001), 0x0000] // a float32 subnormal
    ]
    for (const [value, half] of cases) expect(floatBitsToHalf(bitsOf(value)).toString(16), `${value}`).toBe(half.toString(16))
    expect(floatBitsToHalf(0x7fc00000)).toBe(0x7e00)
    // A NaN whose payload lies below the kept bits stays a NaN.
    expect(floatBitsToHalf(0x7f800001)).toBe(0x7e00)
  })

  it("rounds as Math.f16round does across the float32 range", () => {
    // Every exponent, with mantissas near the rounding boundaries and a spread in between.
    for (let exponent = 0; exponent < 0xff; exponent++) {
      for (const mantissa of [0, 1, 0xfff, 0x1000, 0x1001, 0x2000, 0x3000, 0x123456, 0x7fefff, 0x7ff000, 0x7fffff]) {
        for (const sign of [0, 0x80000000]) {
          const bits = (sign | (exponent << 23) | mantissa) >>> 0
          const expected = valueOf(halfToFloatBits(floatBitsToHalf(bits)))
          expect(Object.is(expected, f16round(valueOf(bits))), `bits ${bits.toString(16)}`).toBe(true)
        }
      }
    }
  })
})

describe("bfloat16 conversion", () => {
  it("widens by taking the top 16 bits, and every pattern narrows back to itself", () => {
    expect(bfloat16ToFloatBits(0x3f80)).toBe(0x3f800000)
    expect(bfloat16ToFloatBits(0x8000)).toBe(0x80000000)
    const wrong: Array<number> = []
    for (let bfloat = 0; bfloat < 0x10000; bfloat++) if (floatBitsToBfloat16(bfloat16ToFloatBits(bfloat)) !== bfloat) wrong.push(bfloat)
    expect(wrong).toEqual([])
  })

  it("narrows to nearest, ties to even, and keeps NaN a NaN", () => {
    expect(floatBitsToBfloat16(0x3f808000)).toBe(0x3f80) // halfway, even stays
    expect(floatBitsToBfloat16(0x3f818000)).toBe(0x3f82) // halfway, odd rounds up
    expect(floatBitsToBfloat16(0x3f808001)).toBe(0x3f81)
    expect(floatBitsToBfloat16(0x3f807fff)).toBe(0x3f80)
    expect(floatBitsToBfloat16(0x7f7fffff)).toBe(0x7f80) // the largest float32 rounds to infinity
    expect(floatBitsToBfloat16(0xff7fffff)).toBe(0xff80)
    expect(floatBitsToBfloat16(0x7f800001)).toBe(0x7fc0)
    expect(floatBitsToBfloat16(0xffc00000)).toBe(0xffc0)
  })
})

describe("arrays of 16-bit floats", () => {
  it("widen from unaligned little-endian bytes and narrow back to the same bytes", () => {
    const file = new Uint8Array([0xaa, 0x00, 0x3c, 0x00, 0x80, 0xff, 0x7b])
    const bytes = file.subarray(1)
    expect([...widen16(bytes, "F16")]).toEqual([1, -0, 65504])
    expect([...narrow16(widen16(bytes, "F16"), "F16")]).toEqual([...bytes])
    expect([...widen16(bytes, "BF16")]).toEqual([valueOf(0x3c000000), -0, valueOf(0x7bff0000)])
    expect([...narrow16(widen16(bytes, "BF16"), "BF16")]).toEqual([...bytes])
  })
})
