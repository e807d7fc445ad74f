import { describe, expect, it } from "vitest"
import { centreGroups, groupAdvantages, isConstantGroup, klPenalizedAdvantages } from "../../../src/stages/rl/group-advantages.js"

describe("group advantages", () => {
  it("centres a known group on its mean reward", () => {
    // Mean 0.25: the one right answer of four gets +0.75, the others -0.25 each.
    expect(groupAdvantages([0, 1, 0, 0])).toEqual([-0.25, 0.75, -0.25, -0.25])
    const advantages = groupAdvantages([2, -1, 0.5])
    expect(advantages[0]).toBeCloseTo(1.5, 12)
    expect(advantages[1]).toBeCloseTo(-1.5, 12)
    expect(advantages[2]).toBeCloseTo(0, 12)
    expect(advantages.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 12)
  })

  it("drops the groups whose rewards are all equal and keeps the others' indices", () => {
    expect(isConstantGroup([1, 1, 1])).toBe(true)
    expect(isConstantGroup([0, 0, 0.5])).toBe(false)
    const centred = centreGroups([[0, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 3]])
    expect(centred.dropped).toBe(2)
    expect(centred.kept).toEqual([
      { group: 1, advantages: [0.5, -0.5, 0.5, -0.5] },
      { group: 3, advantages: [-0.75, -0.75, -0.75, 2.25] }
    ])
    expect(centreGroups([]).kept).toEqual([])
  })

  it("subtracts the KL penalty per token, and only that", () => {
    // log p_sampled − log p_reference: 0.5, −1, 0 → advantage 1 − 0.1·diff.
    const advantages = klPenalizedAdvantages(1, [-0.5, -2, -1], [-1, -1, -1], 0.1)
    expect(advantages[0]).toBeCloseTo(0.95, 12)
    expect(advantages[1]).toBeCloseTo(1.1, 12)
    expect(advantages[2]).toBeCloseTo(1, 12)
    expect(klPenalizedAdvantages(-0.5, [-3, -1], [-1, -2], 0)).toEqual([-0.5, -0.5])
    expect(() => klPenalizedAdvantages(1, [-1], [-1, -2], 0.1)).toThrow(/differ in length/)
  })
})
