import { createHash } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import {
  checkpointStarted,
  hasCheckpoint,
  manifestFile,
  metricsLineCount,
  readCheckpointState,
  readEvents,
  readManifest,
  readMetrics,
  readSummary,
  type RunSummary,
  stateBlobKey
} from "../support/run-directory.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"
import { root, runAndKill, runCli } from "./run-cli.js"

// A small model, so each run takes a second or two: 24 steps, a checkpoint every 4, an
// evaluation every 8 (so some checkpoint steps also evaluate, some do not).
const settings = [
  "--set", "training.steps=24", "--set", "checkpoint.every=4", "--set", "eval.every=8",
  "--set", "model.width=32", "--set", "model.layers=1", "--set", "backend.device=wasm"
]
const recipe = join(root, "examples/sft-arithmetic/recipe.yaml")
const newRunDir = () => join(testDirectory("resume"), "run")
// The uninterrupted run every test compares with, made before them.
const referenceDir = join(suiteDirectory("resume"), "reference")

/** Every committed checkpoint (a manifest) names blobs that exist whole: the size and digest it recorded. */
const expectCommittedCheckpointsWhole = (runDir: string) => {
  const dir = join(runDir, "checkpoints")
  for (const name of readdirSync(dir).filter((n) => n !== "index.json")) {
    if (!hasCheckpoint(runDir, name)) continue
    for (const blob of readManifest(runDir, name).blobs) {
      const bytes = readFileSync(join(dir, blob.key))
      expect(bytes.byteLength).toBe(blob.bytes)
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(blob.sha256)
    }
  }
}

/** Starts this file's run in `runDir` and kills it with SIGKILL once `ready` says so. */
const killRun = (runDir: string, ready: () => boolean): Promise<void> =>
  runAndKill(["run", recipe, "--out", runDir, ...settings], ready)

let reference: Buffer
let referenceSummary: RunSummary

/** What must match an uninterrupted run in summary.json (not its run id or timing). */
const comparable = (summary: RunSummary) => ({
  steps: summary.steps,
  loss: summary.final["loss"],
  firstEval: summary.firstEval,
  lastEval: summary.lastEval,
  bestEval: summary.bestEval,
  checkpoints: summary.checkpoints
})

/** The steps of every line of the run's metrics.jsonl. */
const loggedSteps = (runDir: string) => readMetrics(runDir).map((line) => line.step)

describe("sous resume after SIGKILL", () => {
  beforeAll(() => {
    const result = runCli(["run", recipe, "--out", referenceDir, ...settings])
    expect(result.code).toBe(0)
    reference = readCheckpointState(referenceDir)
    referenceSummary = readSummary(referenceDir)
  })

  // Kill points drawn from fixed seeds (so a failure repeats): after the metrics line of a
  // step in 2..22, or as the checkpoint of a step (4, 8, ..., 20) starts writing.
  const draw = (seed: number, below: number) => {
    let state = seed
    for (let i = 0; i < 3; i++) state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state % below
  }
  const kills: ReadonlyArray<readonly [string, number, "metrics" | "checkpoint"]> = [
    ...[1, 2, 3].map((seed) => {
      const step = 2 + draw(seed, 21)
      return [`after step ${step}'s metrics (seed ${seed})`, step, "metrics"] as const
    }),
    ...[4, 5].map((seed) => {
      const step = 4 * (1 + draw(seed, 5))
      return [`as the checkpoint of step ${step} starts writing (seed ${seed})`, step, "checkpoint"] as const
    })
  ]
  for (const [label, step, trigger] of kills) {
    it(`gives bit-identical final weights and every step's metrics exactly once when killed ${label}`, async () => {
      const runDir = newRunDir()
      await killRun(runDir, trigger === "metrics"
        ? () => metricsLineCount(runDir) >= step
        : checkpointStarted(runDir, step))
      expectCommittedCheckpointsWhole(runDir)
      const resumed = runCli(["resume", runDir])
      expect(resumed.stderr).not.toContain("sous:")
      expect(resumed.code).toBe(0)
      expect(readCheckpointState(runDir).equals(reference)).toBe(true)
      expect(loggedSteps(runDir)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
      expect(comparable(readSummary(runDir))).toEqual(comparable(referenceSummary))
      // Every optimizer step ran once: one train-step end per step, none of the dead run's repeated.
      const trainSteps = readEvents(runDir, "stage.end")
        .filter((e) => (e.data as { stage: string }).stage === "train-step")
        .map((e) => e.step)
      expect(trainSteps).toEqual(Array.from({ length: 24 }, (_, i) => i))
    })
  }

  it("starts a run that died before its first checkpoint again from step 0, to the same weights", async () => {
    const runDir = newRunDir()
    await killRun(runDir, () => metricsLineCount(runDir) >= 2)
    expect(hasCheckpoint(runDir, "step-00000004")).toBe(false)
    const resumed = runCli(["resume", runDir])
    expect(resumed.code).toBe(0)
    expect(resumed.stderr).toContain("holds no committed checkpoint yet: the run starts again from step 0")
    expect(readCheckpointState(runDir).equals(reference)).toBe(true)
    expect(loggedSteps(runDir)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
  })

  it("names a damaged newest checkpoint, and falls back to the previous one when told to", async () => {
    const runDir = newRunDir()
    await killRun(runDir, () => hasCheckpoint(runDir, "step-00000012"))
    const stateKey = stateBlobKey(runDir, "step-00000012")
    truncateSync(join(runDir, "checkpoints", stateKey), 100)

    const refused = runCli(["resume", runDir])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`blob ${stateKey} of checkpoint step-00000012`)
    expect(refused.stderr).toContain("is damaged")
    expect(refused.stderr).toContain("pass --fallback to resume from step-00000008 instead")

    const resumed = runCli(["resume", runDir, "--fallback"])
    expect(resumed.code).toBe(0)
    expect(readCheckpointState(runDir).equals(reference)).toBe(true)
    expect(loggedSteps(runDir)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
  })

  it("names a truncated manifest, falls back past it when told to, and ignores a blob no manifest commits", async () => {
    const runDir = newRunDir()
    await killRun(runDir, () => hasCheckpoint(runDir, "step-00000008"))
    // What a crash between writing the blob and committing the manifest of step 12 leaves.
    mkdirSync(join(runDir, "checkpoints/step-00000012"), { recursive: true })
    writeFileSync(join(runDir, "checkpoints/step-00000012/state-crashed.bin"), "half a state")
    const damaged = manifestFile(runDir, "step-00000008")
    writeFileSync(damaged, readFileSync(damaged).subarray(0, 50))

    const refused = runCli(["resume", runDir])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("manifest step-00000008/manifest.json")
    expect(refused.stderr).toContain("is damaged")

    // Told to fall back, resume uncommits the damaged step 8 and starts again from step 4.
    const resumed = runCli(["resume", runDir, "--fallback"])
    expect(resumed.code).toBe(0)
    expect(readCheckpointState(runDir).equals(reference)).toBe(true)
    expect(loggedSteps(runDir)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
  })

  it("refuses to resume when the data changed since the checkpoint", async () => {
    const runDir = newRunDir()
    const trainCopy = join(testDirectory("data"), "train.jsonl")
    writeFileSync(trainCopy, readFileSync(join(root, "examples/sft-arithmetic/data/train.jsonl")))
    await runAndKill(
      ["run", recipe, "--out", runDir, ...settings, "--set", `data.train=${trainCopy}`],
      () => hasCheckpoint(runDir, "step-00000008")
    )
    writeFileSync(trainCopy, `${readFileSync(trainCopy, "utf8")}{"messages":[{"role":"user","content":"Add 1 and 1."},{"role":"assistant","content":"2"}]}\n`)
    const refused = runCli(["resume", runDir])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("the data differs from what the checkpoint was trained on")
  })

  it("refuses to resume a finished run, and refuses --set", () => {
    const runDir = newRunDir()
    expect(runCli(["run", recipe, "--out", runDir, ...settings]).code).toBe(0)
    const again = runCli(["resume", runDir])
    expect(again.code).toBe(1)
    expect(again.stderr).toContain("finished at step 24")
    const changed = runCli(["resume", runDir, "--set", "optimizer.lr=1"])
    expect(changed.code).toBe(2)
    expect(changed.stderr).toContain("sous resume takes no --set")
  })

  it("run --resume continues a run of the same recipe and refuses another recipe", async () => {
    const runDir = newRunDir()
    await killRun(runDir, () => metricsLineCount(runDir) >= 10)
    const other = runCli(["run", recipe, "--out", runDir, ...settings, "--set", "optimizer.lr=1e-2", "--resume"])
    expect(other.code).toBe(1)
    expect(other.stderr).toContain("holds a run of another recipe")
    const same = runCli(["run", recipe, "--out", runDir, ...settings, "--resume"])
    expect(same.code).toBe(0)
    expect(readCheckpointState(runDir).equals(reference)).toBe(true)
  })
})
