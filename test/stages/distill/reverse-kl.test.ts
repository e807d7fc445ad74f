import { describe, expect, it } from "vitest"
import { addToTally, completionLogprobs, emptyTally, reverseKlAdvantages, tallyMeans } from "../../../src/stages/distill/reverse-kl.js"
import { sampleSeed } from "../../../src/stages/sampling/sample-seed.js"

describe("completionLogprobs", () => {
  it("takes the entries of the completion's tokens out of computeLogprobs over prompt + completion", () => {
    // Prompt of 3 tokens, completion of 2: entries 3 and 4 score the completion.
    expect(completionLogprobs([null, -1, -2, -0.5, -0.25], 3, 2)).toEqual([-0.5, -0.25])
  })

  it("says what is wrong with an answer that does not fit the sequence", () => {
    expect(completionLogprobs([null, -1, -2], 2, 2)).toBe("expected 4 logprobs (prompt and completion), got 3")
    expect(completionLogprobs([null, -1, null], 2, 1)).toBe("no logprob for completion token 0")
    expect(completionLogprobs([null], 0, 1)).toBe("a prompt needs at least one token")
  })
})

describe("reverse KL arithmetic", () => {
  const student = [-0.1, -2, -0.7]
  const teacher = [-0.3, -0.5, -0.7]

  it("gives each sampled token the advantage −(log p_student − log p_teacher)", () => {
    const advantages = reverseKlAdvantages(student, teacher)
    expect(advantages[0]).toBeCloseTo(-0.2, 12) // the student likes the token more than the teacher does: pushed down
    expect(advantages[1]).toBeCloseTo(1.5, 12) // the teacher likes it more: pushed up
    expect(advantages[2]).toBe(0) // they agree: left alone
  })

  it("refuses logprobs of different tokens", () => {
    expect(() => reverseKlAdvantages([-1], [-1, -2])).toThrow("differ in length: 1 and 2")
  })

  it("tallies the reverse KL and the teacher's NLL per sampled token over completions", () => {
    const tally = addToTally(addToTally(emptyTally, student, teacher), [-1], [-3])
    expect(tally.tokens).toBe(4)
    // (0.2 − 1.5 + 0) + (−1 + 3) = 0.7 over 4 tokens; teacher NLL (0.3 + 0.5 + 0.7 + 3) / 4.
    expect(tally.kl).toBeCloseTo(0.7, 12)
    expect(tallyMeans(tally).reverseKl).toBeCloseTo(0.175, 12)
    expect(tallyMeans(tally).teacherNll).toBeCloseTo(1.125, 12)
  })

  it("reports no measurement, not zero, for no tokens", () => {
    expect(tallyMeans(emptyTally).reverseKl).toBeNaN()
  })
})

describe("sampleSeed", () => {
  it("is a deterministic seed in [0, 2^31) that differs by every part", () => {
    expect(sampleSeed(0, 5, 3)).toBe(sampleSeed(0, 5, 3))
    const seeds = new Set<number>()
    for (const seed of [0, 1]) {
      for (let step = 0; step < 20; step++) {
        for (let index = 0; index < 20; index++) seeds.add(sampleSeed(seed, step, index))
      }
    }
    expect(seeds.size).toBe(800)
    for (const value of seeds) expect(value >= 0 && value < 2 ** 31 && Number.isInteger(value)).toBe(true)
    expect(sampleSeed(0, 1, 2)).not.toBe(sampleSeed(0, 2, 1))
  })
})
