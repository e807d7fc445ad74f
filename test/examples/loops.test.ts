import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { suiteDirectory } from "../support/temp-directory.js"

// examples/sl-loop.ts and examples/rl-loop.ts, shortened, run as a user runs them: a child
// process of this Node (24 under vitest) that imports sous through the package's own exports,
// so dist/ must be built first (`npm test` builds it). Both scripts use seed 0 and repeat
// their numbers exactly; each margin below sits well under what was measured (stated beside it).
const root = join(dirname(fileURLToPath(import.meta.url)), "../..")
const directory = suiteDirectory("loops")

const runExample = (script: string, args: ReadonlyArray<string>): string => {
  const result = spawnSync(process.execPath, [join(root, "examples", script), ...args, "--device", "wasm"], {
    cwd: root,
    encoding: "utf8",
    timeout: 600_000
  })
  if (result.status !== 0) {
    throw new Error(`${script} ${args.join(" ")} exited with ${result.status}:\n${result.stderr}\n${result.stdout.slice(-2000)}`)
  }
  return result.stdout
}

const stepLines = (stdout: string) => stdout.split("\n").filter((line) => /^step \d+\/\d+ \|/.test(line))
const mean = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0) / values.length

// sl-loop on examples/sft-arithmetic for 30 steps (measured: 5.580 at step 1, 2.513 for the
// mean of steps 26-30, 55% lower).
const SL_STEPS = 30
const SL_LOSS_DROP = 0.4

// rl-loop for 15 steps from 150 steps of sl-loop on the sloppy demonstrations of
// examples/rl-arithmetic (measured, mean of steps 1-5 → steps 11-15: reward 0.045 → 0.079,
// bare-number answers 0.442 → 0.753).
const SFT_STEPS = 150
const RL_STEPS = 15
const RL_REWARD_GAIN = 0.02
const RL_NUMBERS_GAIN = 0.15

interface RlEntry {
  readonly step: number
  readonly reward: number
  readonly exact: number
  readonly numbers: number
  readonly groupsKept: number
  readonly loss: number | null
}

describe("the flat loops of examples/", () => {
  it(`sl-loop: the mean loss of the last 5 of ${SL_STEPS} steps is at least ${100 * SL_LOSS_DROP}% below step 1's`, () => {
    const out = join(directory, "sl.json")
    const stdout = runExample("sl-loop.ts", ["--steps", String(SL_STEPS), "--out", out])
    expect(stepLines(stdout)).toHaveLength(SL_STEPS)
    expect(stdout).toMatch(/^done: 30 steps/m)
    const summary = JSON.parse(readFileSync(out, "utf8"))
    expect(summary.losses).toHaveLength(SL_STEPS)
    for (const loss of summary.losses) expect(Number.isFinite(loss)).toBe(true)
    expect(summary.firstLoss).toBe(summary.losses[0])
    expect(summary.meanLossLast5).toBeCloseTo(mean(summary.losses.slice(-5)), 12)
    expect(summary.meanLossLast5).toBeLessThanOrEqual((1 - SL_LOSS_DROP) * summary.firstLoss)
  }, 600_000)

  it(
    `rl-loop from an sl-loop state: over ${RL_STEPS} steps the mean reward of the last 5 beats the first 5's by ` +
      `${RL_REWARD_GAIN}, and bare-number answers gain ${RL_NUMBERS_GAIN}`,
    () => {
      const state = join(directory, "sft.bin")
      const sft = runExample("sl-loop.ts", [
        "--steps", String(SFT_STEPS), "--data", join(root, "examples/rl-arithmetic/data/sft.jsonl"), "--save", state
      ])
      expect(sft).toContain(`saved the training state to ${state}`)

      const out = join(directory, "rl.json")
      const stdout = runExample("rl-loop.ts", ["--from", state, "--steps", String(RL_STEPS), "--out", out])
      expect(stepLines(stdout)).toHaveLength(RL_STEPS)
      const summary = JSON.parse(readFileSync(out, "utf8"))
      const history: ReadonlyArray<RlEntry> = summary.history
      expect(history.map((entry) => entry.step)).toEqual(Array.from({ length: RL_STEPS }, (_, index) => index + 1))
      for (const entry of history) {
        // Every step trained: some group's answers scored differently.
        expect(entry.groupsKept).toBeGreaterThan(0)
        expect(Number.isFinite(entry.loss)).toBe(true)
      }
      expect(summary.window).toBe(5)
      expect(summary.first.reward).toBeCloseTo(mean(history.slice(0, 5).map((entry) => entry.reward)), 12)
      expect(summary.last.reward).toBeCloseTo(mean(history.slice(-5).map((entry) => entry.reward)), 12)
      expect(summary.last.reward - summary.first.reward).toBeGreaterThanOrEqual(RL_REWARD_GAIN)
      expect(summary.last.numbers - summary.first.numbers).toBeGreaterThanOrEqual(RL_NUMBERS_GAIN)
    },
    900_000
  )
})
