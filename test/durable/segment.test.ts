import { cpSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Deferred, Effect, Exit, Fiber, Layer } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { makeMemoryBlobStore } from "../../src/adapters/blob/memory-blob-store.js"
import { localBackendLayer } from "../../src/adapters/local/local-backend.js"
import { memoryMetricsSinkLayer } from "../../src/adapters/metrics/memory-metrics-sink.js"
import { byteTokenizerLayer } from "../../src/adapters/tokenizers/byte-tokenizer.js"
import { createSegmentedRun } from "../../src/durable/segment/create-run.js"
import {
  adoptCommitted,
  adoptFinish,
  loadRunRecipe,
  newAttemptId,
  runSegment,
  SegmentPool,
  type SegmentResult,
  runToEnd
} from "../../src/durable/segment/index.js"
import { BlobStore, TrainingBackend, TrainingClient } from "../../src/ports/index.js"
import { CheckpointAttempt, checkpoint, emptySummary, manifestKey, RunKeys } from "../../src/stages/index.js"
import { runWorkflow, sequence, stage, workflow } from "../../src/workflows/index.js"
import { tinyArchitecture } from "../adapters/local/fixtures.js"
import { runCli } from "../cli/run-cli.js"
import { metricsTextWithoutSeconds, readCheckpointState, readEvents, readManifest, readMetrics, readSummary, type RunSummary } from "../support/run-directory.js"
import { sftRecipe, shortSftSets } from "../support/short-sft.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"

// A small model, so each segment takes a few seconds: 12 steps, a checkpoint every 4 (so a
// run is three segments: to step 4, to step 8, to the end), an evaluation every 8.
const sets = shortSftSets(12, 4)
const recipe = sftRecipe
const suite = suiteDirectory("segment")
// The uninterrupted `sous run` every test compares with, and a segmented run after its first
// segment, which the tests copy instead of running it again.
const referenceDir = join(suite, "reference")
const afterFirstDir = join(suite, "after-first-segment")

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

/** A fresh copy of the run that has done its first segment (checkpoint step 4 committed and adopted). */
const runAfterFirstSegment = (): string => {
  const runDir = join(testDirectory("segment"), "run")
  cpSync(afterFirstDir, runDir, { recursive: true })
  return runDir
}

/** What must match an uninterrupted run in summary.json (not its run id or timing). */
const comparable = (summary: RunSummary) => ({
  steps: summary.steps,
  loss: summary.final["loss"],
  firstEval: summary.firstEval,
  lastEval: summary.lastEval,
  bestEval: summary.bestEval,
  checkpoints: summary.checkpoints
})

/** Every file of the store is a manifest, the index, or a blob that its checkpoint's manifest names. */
const expectNoStrayBlobs = (runDir: string) => {
  const store = join(runDir, "checkpoints")
  for (const name of readdirSync(store).filter((entry) => entry !== "index.json")) {
    const named = readManifest(runDir, name).blobs.map((blob) => blob.key)
    for (const file of readdirSync(join(store, name)).filter((entry) => entry !== "manifest.json")) {
      expect(named, `${name}/${file} is named by no manifest`).toContain(`${name}/${file}`)
    }
  }
}

/** The run equals the uninterrupted one: final weights byte for byte, each step's metrics once and equal, the summary. */
const expectExact = (runDir: string) => {
  expect(readCheckpointState(runDir).equals(readCheckpointState(referenceDir))).toBe(true)
  expect(readMetrics(runDir).map((line) => line.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
  expect(metricsTextWithoutSeconds(runDir)).toBe(metricsTextWithoutSeconds(referenceDir))
  expect(comparable(readSummary(runDir))).toEqual(comparable(readSummary(referenceDir)))
  expectNoStrayBlobs(runDir)
}

/** The attempt whose checkpoint `name` is committed: its state blob is named after it. */
const committedBy = (runDir: string, name: string) => readManifest(runDir, name).blobs[0]!.key.match(/\.attempt-(.+)\.bin$/)?.[1]

const outcomes = (results: ReadonlyArray<SegmentResult>) => results.map((result) => `${result.end.outcome} ${result.end.checkpoint}`)

describe("segments", () => {
  beforeAll(async () => {
    const reference = runCli(["run", recipe, "--out", referenceDir, ...sets.flatMap((set) => ["--set", set])])
    expect(reference.code, reference.stderr).toBe(0)
    await run(createSegmentedRun({ recipeFile: recipe, sets, runDir: afterFirstDir }))
    const first = await run(runSegment({ runDir: afterFirstDir, attemptId: "first" }))
    expect(first.end).toMatchObject({ outcome: "checkpoint", checkpoint: "step-00000004", step: 4 })
    expect(first.adopted).toEqual([{ name: "step-00000004", step: 4, attemptId: "first" }])
    console.log(`first segment: ${first.wallMillis} ms, of which ${first.startupMillis} ms from the spawn to the first step`)
  }, 120_000)

  it("run one after another from a fresh run directory, end with the weights and metrics of an uninterrupted run", async () => {
    const runDir = join(testDirectory("segment"), "run")
    await run(createSegmentedRun({ recipeFile: recipe, sets, runDir }))
    const progress: Array<number> = []
    const results = await run(runToEnd({ runDir, onProgress: (line) => line.type === "progress" && progress.push(line.step) }))
    expect(outcomes(results)).toEqual(["checkpoint step-00000004", "checkpoint step-00000008", "finished final"])
    expect(results.map((result) => result.end.step)).toEqual([4, 8, 12])
    // One process ran them all, continuing from the state in its memory.
    expect(results.map((result) => result.continued)).toEqual([false, true, true])
    expect(new Set(results.map((result) => result.attemptId)).size).toBe(1)
    // Each segment reports its first step at once.
    for (const first of [1, 5, 9]) expect(progress).toContain(first)
    expectExact(runDir)
    // Each event of the process joined the run once, though it was adopted three times.
    expect(readEvents(runDir, "checkpoint").map((event) => event.data?.["name"])).toEqual(["step-00000004", "step-00000008", "final"])
    // Each checkpoint came from the attempt that committed it, and the events say so.
    const segments = readEvents(runDir, "segment").map((event) => event.data)
    expect(segments).toEqual([
      { attempt: results[0]!.attemptId, checkpoint: "step-00000004" },
      { attempt: results[1]!.attemptId, checkpoint: "step-00000008" },
      { attempt: results[2]!.attemptId, checkpoint: "final" },
      { attempt: results[2]!.attemptId, finished: true }
    ])
    console.log(results.map((r) => `${r.end.checkpoint}: ${r.wallMillis} ms, first step after ${r.startupMillis} ms`).join("; "))

    // Adopting again (an orchestrator that died before it knew it had adopted) adds nothing.
    const metrics = readFileSync(join(runDir, "metrics.jsonl"), "utf8")
    const events = readFileSync(join(runDir, "events.jsonl"), "utf8")
    const recipeOfRun = await run(loadRunRecipe(runDir))
    expect(await run(adoptCommitted(runDir, recipeOfRun))).toEqual([])
    await run(adoptFinish(runDir, results[2]!.attemptId))
    expect(readFileSync(join(runDir, "metrics.jsonl"), "utf8")).toBe(metrics)
    expect(readFileSync(join(runDir, "events.jsonl"), "utf8")).toBe(events)

    // A segment of a finished run ends at once.
    const again = await run(runSegment({ runDir, attemptId: newAttemptId() }))
    expect(again.end).toMatchObject({ outcome: "finished", checkpoint: "final", step: 12 })
  }, 120_000)

  it("a segment SIGKILLed in the middle is run again, and the run is still exact", async () => {
    const runDir = runAfterFirstSegment()
    let pid: number | undefined
    const killed = await Effect.runPromiseExit(runSegment({
      runDir,
      attemptId: "killed",
      onSpawn: (started) => (pid = started),
      onProgress: (line) => line.type === "progress" && process.kill(pid!, "SIGKILL")
    }))
    expect(Exit.isFailure(killed) && JSON.stringify(killed.cause)).toContain("SegmentCrashedError")
    expect(JSON.stringify(killed)).toContain("SIGKILL")
    // What it trained after step 4 stays in its own directory.
    expect(readMetrics(runDir).map((line) => line.step)).toEqual([1, 2, 3, 4])

    const results = await run(runToEnd({ runDir }))
    expect(outcomes(results)).toEqual(["checkpoint step-00000008", "finished final"])
    expectExact(runDir)
  }, 120_000)

  it("a kept process whose checkpoint another attempt went past is stopped, not continued", async () => {
    const runDir = runAfterFirstSegment()
    const pids: Array<number> = []
    const results = await run(Effect.gen(function*() {
      const kept = yield* runSegment({ runDir, attemptId: "kept", onSpawn: (pid) => pids.push(pid) })
      // Another worker's attempt (a pool of its own) runs the next segment meanwhile.
      const other = yield* runSegment({ runDir, attemptId: "other" }).pipe(Effect.provide(Layer.fresh(SegmentPool.layer)))
      const after = yield* runSegment({ runDir, attemptId: "after", onSpawn: (pid) => pids.push(pid) })
      return [kept, other, after]
    }).pipe(Effect.provide(SegmentPool.layer)))
    // `other` went from step 8 to the end; `after` found the kept process's step 8 behind.
    expect(results.map((result) => [result.attemptId, result.continued, `${result.end.outcome} ${result.end.checkpoint}`])).toEqual([
      ["kept", false, "checkpoint step-00000008"],
      ["other", false, "finished final"],
      ["after", false, "finished final"]
    ])
    expect(pids).toHaveLength(2)
    expect(() => process.kill(pids[0]!, 0)).toThrow() // the kept process is gone
    expectExact(runDir)
  }, 120_000)

  it("an interrupted segment stops its process, which removes what it had not committed", async () => {
    const runDir = runAfterFirstSegment()
    let pid: number | undefined
    const stopped = await run(Effect.gen(function*() {
      const firstStep = yield* Deferred.make<void>()
      const fiber = yield* Effect.forkChild(runSegment({
        runDir,
        attemptId: "interrupted",
        killGraceMillis: 5_000,
        onSpawn: (started) => (pid = started),
        onProgress: () => Deferred.doneUnsafe(firstStep, Exit.void)
      }))
      yield* Deferred.await(firstStep)
      const startedAt = Date.now()
      yield* Fiber.interrupt(fiber)
      return Date.now() - startedAt
    }))
    console.log(`interrupted segment gone ${stopped} ms after the interruption`)
    // The interruption completes only once the process is gone.
    expect(() => process.kill(pid!, 0)).toThrow()
    expect(stopped).toBeLessThan(5_000)
    expect(readMetrics(runDir).map((line) => line.step)).toEqual([1, 2, 3, 4])
    expectNoStrayBlobs(runDir)
  }, 60_000)

  it("two attempts of one segment at once: exactly one commits, the loser leaves nothing in the run", async () => {
    const runDir = runAfterFirstSegment()
    const [a, b] = await run(Effect.all(
      [runSegment({ runDir, attemptId: "twin-a" }), runSegment({ runDir, attemptId: "twin-b" })],
      { concurrency: 2 }
    ))
    const pair = [a!, b!]
    const winner = pair.find((result) => result.end.outcome === "checkpoint")
    expect(winner?.end).toMatchObject({ checkpoint: "step-00000008", step: 8 })
    expect(committedBy(runDir, "step-00000008")).toBe(winner!.attemptId)
    const other = pair.find((result) => result !== winner)!
    // The other lost the race to commit step 8, or started after the commit and resumed from it.
    if (other.end.outcome === "lost") {
      expect(other.end).toMatchObject({ checkpoint: "step-00000008" })
      expect(other.exitCode).toBe(3)
    } else {
      expect(other.end).toMatchObject({ outcome: "finished", checkpoint: "final" })
    }
    console.log(`overlap: ${pair.map((r) => `${r.attemptId} ${r.end.outcome}`).join(", ")}`)
    expect(readMetrics(runDir).map((line) => line.step)).toEqual(
      other.end.outcome === "finished" ? Array.from({ length: 12 }, (_, i) => i + 1) : [1, 2, 3, 4, 5, 6, 7, 8]
    )
    expectNoStrayBlobs(runDir)

    await run(runToEnd({ runDir }))
    expectExact(runDir)
    // Only winners' lines: the events name each committed checkpoint's own attempt.
    const adoptedFrom = readEvents(runDir, "segment").map((event) => event.data?.["attempt"])
    if (other.end.outcome === "lost") expect(adoptedFrom).not.toContain(other.attemptId)
  }, 120_000)

  it("a segment with bad input ends failed, not retryable, with the error's tag", async () => {
    const runDir = runAfterFirstSegment()
    const result = await run(runSegment({ runDir, attemptId: "not/an/id" }))
    expect(result.end).toMatchObject({ outcome: "failed", errorTag: "SegmentInputError", retryable: false })
    expect(result.exitCode).toBe(1)
    expect(result.end.message).toContain("is not 1 to 64 letters")
  }, 60_000)
})

// The race itself, in one process: the loser checked that the manifest was absent just
// before the winner committed it, so it writes its blob and then loses the commit.
describe("the checkpoint stage of a losing attempt", () => {
  const initialState = {
    [RunKeys.runInfo.name]: { runId: "r", recipeHash: "abc", startedAt: 0 },
    [RunKeys.dataCursor.name]: { epoch: 0, position: 0 },
    [RunKeys.summary.name]: emptySummary,
    [RunKeys.lastCheckpoint.name]: null,
    [RunKeys.dataDigest.name]: "d1g35t"
  }
  const save = workflow({
    name: "save",
    initial: [RunKeys.runInfo, RunKeys.dataCursor, RunKeys.summary, RunKeys.lastCheckpoint, RunKeys.dataDigest],
    root: sequence(stage(checkpoint({ final: true, rendererId: "r", dataSeed: 0, retention: { keepLast: 0, keepEvery: 0 } })))
  })
  const ports = (store: BlobStore["Service"]) =>
    Layer.mergeAll(
      Layer.effect(
        TrainingClient,
        Effect.flatMap(TrainingBackend, (backend) => backend.createTrainingClient({ baseModel: "tiny", architecture: tinyArchitecture, seed: 1 }))
      ).pipe(Layer.provide(localBackendLayer({ device: "cpu" }))),
      byteTokenizerLayer(),
      memoryMetricsSinkLayer,
      Layer.succeed(BlobStore, store)
    )
  const saveAs = (attempt: string, store: BlobStore["Service"]) =>
    runWorkflow(save, { initialState }).pipe(Effect.provideService(CheckpointAttempt, attempt), Effect.provide(ports(store)))

  it("deletes its own blob and leaves the winner's checkpoint whole", async () => {
    await run(Effect.gen(function*() {
      const store = yield* makeMemoryBlobStore
      yield* saveAs("winner", store)
      let asked = false
      const written: Array<string> = []
      const late = BlobStore.of({
        ...store,
        // The first look at the manifest happened before the winner's commit.
        exists: (key) => key === manifestKey("final") && !asked ? Effect.sync(() => (asked = true) && false) : store.exists(key),
        put: (key, bytes) => Effect.andThen(Effect.sync(() => written.push(key)), store.put(key, bytes))
      })
      const error = yield* Effect.flip(saveAs("loser", late))
      expect(error.message).toContain("already committed")
      expect(written).toEqual(["final/state-r.attempt-loser.bin"])
      expect(yield* store.list("")).toEqual(["final/manifest.json", "final/state-r.attempt-winner.bin", "index.json"])
    }))
  }, 60_000)
})
