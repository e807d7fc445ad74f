import { assert, describe, it } from "@effect/vitest"
import { sampleToken, seededUniform } from "../../../src/adapters/local/token-sampler.js"

const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.2)]
const draw = (count: number, sampling: { temperature: number; topK: number; topP: number }, seed = 1) => {
  const uniform = seededUniform(seed)
  const counts = [0, 0, 0]
  for (let i = 0; i < count; i++) counts[sampleToken(logits, sampling, uniform).token]! += 1
  return counts.map((c) => c / count)
}

describe("sampleToken", () => {
  it("draws from the softmax at temperature 1 and reports its log-probability", () => {
    const frequencies = draw(4000, { temperature: 1, topK: -1, topP: 1 })
    assert.closeTo(frequencies[0]!, 0.5, 0.03)
    assert.closeTo(frequencies[1]!, 0.3, 0.03)
    assert.closeTo(frequencies[2]!, 0.2, 0.03)
    const { token, logprob } = sampleToken(logits, { temperature: 1, topK: -1, topP: 1 }, seededUniform(3))
    assert.closeTo(logprob, Math.log([0.5, 0.3, 0.2][token]!), 1e-9)
  })

  it("is greedy at temperature 0 and keeps only the allowed tokens with top_k and top_p", () => {
    assert.deepStrictEqual(sampleToken(logits, { temperature: 0, topK: -1, topP: 1 }, seededUniform(1)), {
      token: 0,
      logprob: Math.log(0.5)
    })
    assert.deepStrictEqual(draw(500, { temperature: 1, topK: 1, topP: 1 }), [1, 0, 0])
    const nucleus = draw(2000, { temperature: 1, topK: -1, topP: 0.7 })
    assert.strictEqual(nucleus[2], 0)
    assert.closeTo(nucleus[0]!, 0.5 / 0.8, 0.04)
    const topTwo = draw(2000, { temperature: 1, topK: 2, topP: 1 })
    assert.strictEqual(topTwo[2], 0)
  })

  it("draws only ids below drawable, reporting their log-probability over every logit", () => {
    // Token 0 is the likeliest but past what may be drawn (a head padded beyond the tokenizer).
    const padded = [Math.log(0.5), Math.log(0.3), Math.log(0.2)].reverse()
    assert.deepStrictEqual(sampleToken(padded, { temperature: 0, topK: -1, topP: 1 }, seededUniform(1), 2), { token: 1, logprob: Math.log(0.3) })
    const uniform = seededUniform(5)
    const drawn = Array.from({ length: 2000 }, () => sampleToken(padded, { temperature: 1, topK: -1, topP: 1 }, uniform, 2))
    assert.isTrue(drawn.every(({ token }) => token < 2))
    assert.closeTo(drawn.filter(({ token }) => token === 0).length / drawn.length, 0.2 / 0.5, 0.04)
    assert.closeTo(drawn.find(({ token }) => token === 0)!.logprob, Math.log(0.2), 1e-9)
    // A drawable bound past the logits draws among the logits alone.
    const beyond = Array.from({ length: 200 }, () => sampleToken(padded, { temperature: 1, topK: -1, topP: 1 }, uniform, 5))
    assert.isTrue(beyond.every(({ token, logprob }) => token < 3 && Number.isFinite(logprob)))
  })

  it("measures top_p over the top_k tokens renormalised, as Hugging Face and vLLM do", () => {
    const even = [0.3, 0.3, 0.2, 0.2].map(Math.log)
    const uniform = seededUniform(5)
    // Renormalised over the top 2, the first token alone holds 0.5 = top_p.
    const tokens = new Set(Array.from({ length: 200 }, () => sampleToken(even, { temperature: 1, topK: 2, topP: 0.5 }, uniform).token))
    assert.deepStrictEqual([...tokens], [0])
    // Over the top 3 (0.375, 0.375, 0.25) two tokens reach 0.7; over all four it would take three.
    const frequencies = [0, 0, 0, 0]
    for (let i = 0; i < 2000; i++) frequencies[sampleToken(even, { temperature: 1, topK: 3, topP: 0.7 }, uniform).token]! += 1
    assert.strictEqual(frequencies[2], 0)
    assert.strictEqual(frequencies[3], 0)
    assert.closeTo(frequencies[0]! / 2000, 0.5, 0.04)
  })

  it("picks what greedy picks, with the same log-probability, under top_k 1 or a tiny top_p at temperature 1", () => {
    const uniform = seededUniform(9)
    for (let row = 0; row < 50; row++) {
      const random = Array.from({ length: 32 }, () => 4 * uniform() - 2)
      const greedy = sampleToken(random, { temperature: 0, topK: -1, topP: 1 }, uniform)
      assert.deepStrictEqual(sampleToken(random, { temperature: 1, topK: 1, topP: 1 }, uniform), greedy)
      assert.deepStrictEqual(sampleToken(random, { temperature: 1, topK: -1, topP: 1e-6 }, uniform), greedy)
    }
  })

  it("repeats its draws for the same seed", () => {
    const a = seededUniform(42)
    const b = seededUniform(42)
    const c = seededUniform(43)
    const first = Array.from({ length: 5 }, a)
    assert.deepStrictEqual(Array.from({ length: 5 }, b), first)
    assert.notDeepEqual(Array.from({ length: 5 }, c), first)
    assert.isTrue(first.every((u) => u >= 0 && u < 1))
  })
})
