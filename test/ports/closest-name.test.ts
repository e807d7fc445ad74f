import { describe, expect, it } from "vitest"
import { closestName, editDistance } from "../../src/ports/closest-name.js"

describe("editDistance", () => {
  it("counts insertions, deletions, substitutions and swaps of neighbours", () => {
    expect(editDistance("lr", "lr")).toBe(0)
    expect(editDistance("optimiser", "optimizer")).toBe(1)
    expect(editDistance("shufle", "shuffle")).toBe(1)
    expect(editDistance("modle", "model")).toBe(1)
    expect(editDistance("", "abc")).toBe(3)
    expect(editDistance("kitten", "sitting")).toBe(3)
  })
})

describe("closestName", () => {
  it("picks the nearest candidate within a third of the name's length, or none", () => {
    expect(closestName("optimiser", ["model", "optimizer", "data"])).toBe("optimizer")
    expect(closestName("batchsize", ["batchSize", "steps"])).toBe("batchSize")
    expect(closestName("whatever", ["model", "optimizer", "data"])).toBeUndefined()
    expect(closestName("x", ["y"])).toBeUndefined()
  })
})
