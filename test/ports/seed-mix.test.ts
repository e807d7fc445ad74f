import { assert, describe, it } from "@effect/vitest"
import { seedMix } from "../../src/ports/seed-mix.js"
import { makeFaultPlan } from "../../src/server/fault-injection.js"
import { epochOrder, holdOut } from "../../src/stages/data/data-order.js"
import { sampleSeed } from "../../src/stages/sampling/sample-seed.js"

// Every value below was computed with the three copies of the mix that seedMix replaced;
// a change here would change the data order, sampling seeds and faults of existing runs.
describe("seedMix", () => {
  it("is the MurmurHash3 finaliser, on the input modulo 2^32", () => {
    const pinned: ReadonlyArray<readonly [number, number]> = [
      [0, 0],
      [1, 1364076727],
      [2, 821347078],
      [42, 142593372],
      [0x9e3779b9, 2462723854],
      [0xffffffff, 2180083513],
      [-1, 2180083513],
      [2 ** 32 + 5, 3423425485],
      [123456789, 3126909082]
    ]
    for (const [input, output] of pinned) assert.strictEqual(seedMix(input), output, `seedMix(${input})`)
  })

  it("leaves the data order, held-out split, sampling seeds and injected faults as they were", () => {
    assert.deepStrictEqual(epochOrder(10, 7, 0, true), [5, 3, 9, 4, 8, 7, 0, 2, 6, 1])
    assert.deepStrictEqual(epochOrder(10, 7, 1, true), [2, 4, 7, 0, 9, 1, 8, 5, 6, 3])
    assert.deepStrictEqual(epochOrder(10, -3, 2, true), [6, 5, 2, 9, 1, 3, 7, 0, 8, 4])
    assert.deepStrictEqual(holdOut(10, 0.3, 3), { eval: [0, 1, 5], train: [2, 3, 4, 6, 7, 8, 9] })
    assert.deepStrictEqual(
      [sampleSeed(0), sampleSeed(7, 0), sampleSeed(7, 1, 2), sampleSeed(-5, 100, 3, 9), sampleSeed(2 ** 31, 4)],
      [1807139368, 383172210, 1725796786, 869234196, 1827370736]
    )
    const plan = makeFaultPlan({ rate5xx: 0.2, rate429: 0.2, rateDrop: 0.2, seed: 11 })
    const kinds = Array.from({ length: 12 }, (_, ordinal) => {
      const decision = plan.decide(ordinal, { poll: false, submission: true })
      return decision === undefined ? "-" : `${decision.kind}/${decision.timing}`
    })
    assert.deepStrictEqual(kinds, [
      "429/after", "429/before", "503/after", "-", "429/before", "503/after",
      "drop/before", "503/after", "503/before", "503/before", "drop/after", "503/after"
    ])
  })
})
