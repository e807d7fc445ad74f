import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { learningRateAt, type LrSchedule, validateLrSchedule } from "../../../src/stages/training/lr-schedule.js"

const schedule = (overrides: Partial<LrSchedule>): LrSchedule => ({
  kind: "constant",
  baseLr: 1e-3,
  warmupSteps: 0,
  totalSteps: 100,
  minLrRatio: 0,
  ...overrides
})

describe("learningRateAt", () => {
  it("holds a constant rate", () => {
    assert.strictEqual(learningRateAt(schedule({}), 0), 1e-3)
    assert.strictEqual(learningRateAt(schedule({}), 99), 1e-3)
  })

  it("warms up linearly from above zero to the base rate", () => {
    const warm = schedule({ warmupSteps: 4 })
    assert.deepStrictEqual([0, 1, 2, 3, 4].map((step) => learningRateAt(warm, step)), [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])
  })

  it("decays linearly towards the floor after warmup", () => {
    const linear = schedule({ kind: "linear", warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 })
    assert.strictEqual(learningRateAt(linear, 10), 1e-3)
    // Half way through the 100 decay steps: floor + (base - floor) / 2.
    assert.closeTo(learningRateAt(linear, 60), 1e-4 + 0.5 * 9e-4, 1e-12)
    assert.closeTo(learningRateAt(linear, 109), 1e-4 + 0.01 * 9e-4, 1e-12)
  })

  it("follows a half cosine to the floor", () => {
    const cosine = schedule({ kind: "cosine", totalSteps: 100, minLrRatio: 0 })
    assert.strictEqual(learningRateAt(cosine, 0), 1e-3)
    assert.closeTo(learningRateAt(cosine, 50), 5e-4, 1e-12)
    assert.closeTo(learningRateAt(cosine, 25), 1e-3 * 0.5 * (1 + Math.cos(Math.PI / 4)), 1e-12)
  })

  it("never yields a rate of zero within the run, even with a floor of zero", () => {
    for (const kind of ["linear", "cosine"] as const) {
      const curve = schedule({ kind, totalSteps: 7, warmupSteps: 2, minLrRatio: 0 })
      for (let step = 0; step < 7; step++) assert.isAbove(learningRateAt(curve, step), 0)
    }
  })
})

describe("validateLrSchedule", () => {
  it.effect("rejects a learning rate of zero or less", () =>
    Effect.gen(function*() {
      for (const baseLr of [0, -1, Number.NaN]) {
        const exit = yield* Effect.exit(validateLrSchedule(schedule({ baseLr })))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.findErrorOption(exit)
        assert.strictEqual(error._tag === "Some" && error.value._tag, "LrScheduleError")
        assert.include(error._tag === "Some" ? error.value.message : "", "learning rate must be positive")
      }
    }))

  it.effect("accepts a sound schedule unchanged", () =>
    Effect.gen(function*() {
      const sound = schedule({ kind: "cosine", warmupSteps: 5 })
      assert.deepStrictEqual(yield* validateLrSchedule(sound), sound)
    }))
})
