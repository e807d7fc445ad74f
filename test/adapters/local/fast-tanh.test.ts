import { describe, expect, it } from "vitest"
import { fastTanh } from "../../../src/adapters/local/fast-tanh.js"

describe("fastTanh", () => {
  it("is Math.tanh within 1e-11 from 0 to saturation, odd, and ±1 beyond", () => {
    let worst = 0
    // Steps that are not multiples of ln2, so reduced arguments cover their whole range.
    for (let x = -25; x <= 25; x += 0.000731) worst = Math.max(worst, Math.abs(fastTanh(x) - Math.tanh(x)))
    for (const x of [1e-300, 1e-8, 0.25, 19.999]) {
      worst = Math.max(worst, Math.abs(fastTanh(x) - Math.tanh(x)))
      expect(fastTanh(-x)).toBe(-fastTanh(x))
    }
    expect(worst).toBeLessThan(1e-11)
    expect(fastTanh(0)).toBe(0)
    expect([fastTanh(20), fastTanh(-40), fastTanh(Infinity)]).toEqual([1, -1, 1])
  })
})
