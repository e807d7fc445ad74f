import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Fiber } from "effect"
import { beforeAll, describe, expect, it, onTestFinished } from "vitest"
import { cancelRun, pauseRun, runLog, runStatus, submitRun } from "../../src/durable/runs.js"
import { runWorker } from "../../src/durable/worker.js"
import { root, runCli } from "../cli/run-cli.js"
import { waitFor } from "../support/wait-for.js"
import { exited, isAlive, signal, workerProcesses } from "../support/processes.js"
import { readCheckpointState, readManifest, readMetrics } from "../support/run-directory.js"
import { sftRecipe, shortSftSets } from "../support/short-sft.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"

// Durable runs end to end through the real `sous` command: submit, a worker process, status
// and control. The recipe is the segment test's shortened example, longer (48 steps, a
// checkpoint every 16) and at the example's own model size (width 64, 2 layers), so a run is
// three segments of a second or more each, long enough for a test to find a segment mid-way:
// at the shortened size a segment could end before a probe saw it running.
const steps = 48
const every = 16
const sets = [...shortSftSets(steps, every), "model.width=64", "model.layers=2"]
const recipe = sftRecipe
const suite = suiteDirectory("durable-run")
const referenceDir = join(suite, "reference")

const setArgs = (more: ReadonlyArray<string> = []) => [...sets, ...more].flatMap((set) => ["--set", set])

const statusOf = (id: string, db: string) => Effect.runPromise(runStatus(id, { db }))
const logOf = (id: string, db: string) => Effect.runPromise(runLog(id, { db }))

/** A database and run directories of the test's own, and the helpers that use them. */
const setup = () => {
  const dir = testDirectory("durable-run")
  const db = join(dir, "runs.db")
  const { workers, segmentPids } = workerProcesses()
  const submit = (name: string, more: ReadonlyArray<string> = []) => {
    const result = runCli(["submit", recipe, ...setArgs(more), "--out", join(dir, name), "--db", db])
    expect(result.code, result.stderr).toBe(0)
    return result.stdout.trim()
  }
  const startWorker = (more: ReadonlyArray<string> = []) => {
    const child = spawn(process.execPath, [join(root, "bin/sous"), "worker", "--db", db, ...more], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
    let text = ""
    child.stdout!.on("data", (chunk) => (text += String(chunk)))
    child.stderr!.on("data", (chunk) => (text += String(chunk)))
    const worker = { child, output: () => text }
    workers.push(worker)
    return worker
  }
  /** Waits for the run's row to satisfy `ok`, noting its segment process for the cleanup. */
  const waitForRun = (id: string, what: string, ok: (row: Awaited<ReturnType<typeof statusOf>>) => boolean, timeoutMs = 90_000) =>
    waitFor(`${id} ${what}`, timeoutMs, async () => {
      const row = await statusOf(id, db)
      if (row.segment_pid !== null) segmentPids.add(row.segment_pid)
      return ok(row) ? row : undefined
    })
  return { dir, db, submit, startWorker, waitForRun }
}

/** The run equals the uninterrupted `sous run`: final weights byte for byte, every step's metrics once. */
const expectExact = (runDir: string) => {
  expect(readCheckpointState(runDir).equals(readCheckpointState(referenceDir))).toBe(true)
  expect(readMetrics(runDir).map((line) => line.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
}

/**
 * Submits a run, starts a worker, waits for `killPoint` (which may check the run on its way
 * and returns a note on where the kill landed, with what to do right after the kill),
 * SIGKILLs the worker, starts a new one, and
 * expects the run to succeed exact. Logs how long the takeover took.
 */
const killRestartExact = async (
  name: string,
  killPoint: (
    run: { readonly id: string; readonly db: string; readonly runDir: string; readonly waitForRun: ReturnType<typeof setup>["waitForRun"] }
  ) => Promise<string | { readonly note: string; readonly afterKill: () => void }>
) => {
  const { dir, db, submit, startWorker, waitForRun } = setup()
  const runDir = join(dir, name)
  const id = submit(name)
  expect(id).toMatch(/^run-/)
  const first = startWorker()
  const killed = await killPoint({ id, db, runDir, waitForRun })
  const where = typeof killed === "string" ? killed : killed.note
  const orphan = (await statusOf(id, db)).segment_pid
  first.child.kill("SIGKILL")
  await exited(first.child)
  const killedAt = Date.now()
  if (typeof killed !== "string") killed.afterKill()
  // Its segment process sees its orchestrator gone (the end of its stdin) and stops by
  // itself, so it cannot train beside the new worker's.
  if (orphan !== null) await waitFor(`segment process ${orphan} to stop`, 30_000, async () => (isAlive(orphan) ? undefined : true))
  startWorker()
  const done = await waitForRun(id, "to succeed", (row) => row.state === "succeeded")
  const restarted = (await logOf(id, db)).find((line) => line.at >= killedAt && line.message.startsWith("segment"))
  console.log(`${name}: SIGKILL ${where}; a segment started ${restarted!.at - killedAt} ms after the new worker was spawned; run done ${Date.now() - killedAt} ms after`)
  expect(done).toMatchObject({ step: steps, last_checkpoint: "final", last_error: null })
  expectExact(runDir)
}

describe("durable runs (sous submit / worker / status / pause / resume / cancel)", () => {
  beforeAll(() => {
    const reference = runCli(["run", recipe, "--out", referenceDir, ...setArgs()])
    expect(reference.code, reference.stderr).toBe(0)
  }, 120_000)

  it("a worker SIGKILLed mid-segment: a new worker takes the run over, and it ends exact; status shows step and rate", async () => {
    await killRestartExact("killed", async ({ id, db, waitForRun }) => {
      // Mid-segment 2: step 16 committed, training towards step 32; status has a step and a rate.
      const running = await waitForRun(id, "in segment 2", (row) => row.segment === 2 && row.step > every && row.step < 2 * every && row.segment_pid !== null)
      expect(running).toMatchObject({ state: "running", total_steps: steps, last_checkpoint: "step-00000016" })
      expect(running.steps_per_second).toBeGreaterThan(0)
      expect(running.etaSeconds).toBeGreaterThan(0)
      // Held still (SIGSTOP) while the CLI starts, so the run cannot finish meanwhile; the
      // kill comes while it is held, and SIGCONT then lets it see its worker gone.
      process.kill(running.segment_pid!, "SIGSTOP")
      onTestFinished(() => signal(running.segment_pid!, "SIGCONT"))
      const shown = runCli(["status", id, "--db", db])
      expect(shown.code, shown.stderr).toBe(0)
      expect(shown.stdout).toMatch(new RegExp(`running\\s+step \\d+/${steps}\\s+[0-9.]+ steps/s\\s+ETA`))
      return { note: `at step ${running.step}`, afterKill: () => signal(running.segment_pid!, "SIGCONT") }
    })
  }, 150_000)

  it("a worker SIGKILLed during a checkpoint commit: a new worker takes the run over, and it ends exact", async () => {
    await killRestartExact("killed-commit", async ({ runDir }) => {
      // Segment 2's checkpoint: its directory appears when the state blob is written, and its
      // manifest (the commit point) lands after that. Polling the file system every few ms,
      // the kill lands between the blob and the manifest, or just after the manifest, or (on
      // a slow poll) after the segment reported its end: the test cannot pin which, only that
      // the kill falls within that window. Either way the new worker must end exact: an
      // uncommitted blob is ignored and segment 2 runs again; a committed one is adopted.
      const checkpoint = join(runDir, "checkpoints", "step-00000032")
      await waitFor("segment 2's checkpoint to be written", 90_000, async () => (existsSync(checkpoint) ? true : undefined), 2)
      return existsSync(join(checkpoint, "manifest.json")) ? "after its manifest landed" : "before its manifest landed"
    })
  }, 150_000)

  it("a worker SIGKILLed between segments: a new worker takes the run over, and it ends exact", async () => {
    await killRestartExact("killed-between", async ({ id, db }) => {
      // Right after the run's log says segment 1 ended (its checkpoint committed), before or
      // just as segment 2 starts: the new worker starts from step 16's checkpoint.
      await waitFor(`${id} segment 1 to end`, 90_000, async () =>
        (await logOf(id, db)).some((line) => line.message.startsWith("segment 1 ended")) ? true : undefined, 10)
      const row = await statusOf(id, db)
      return `at segment ${row.segment}, step ${row.step}`
    })
  }, 150_000)

  it("bad data: submit refuses it and writes nothing; data gone bad after submit fails the run at once, not tried again", async () => {
    const { dir, db, submit, startWorker, waitForRun } = setup()
    const badData = join(dir, "bad.jsonl")
    const goodRow = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":\"hello\"}]}\n"
    writeFileSync(badData, `${goodRow}{"no":"messages"}\n`)
    const refused = runCli(["submit", recipe, ...setArgs([`data.train=${badData}`]), "--out", join(dir, "refused"), "--db", db])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`${badData}:2`)
    expect(existsSync(join(dir, "refused"))).toBe(false)
    // Data that was good when the run was submitted and is bad when it starts.
    writeFileSync(badData, goodRow.repeat(2))
    const id = submit("bad", [`data.train=${badData}`])
    writeFileSync(badData, `${goodRow}{"no":"messages"}\n`)
    startWorker()
    // `status --watch` follows the run until it ends: it returns, its last state failed.
    const watched = runCli(["status", id, "--watch", "--db", db])
    expect(watched.code, watched.stderr).toBe(0)
    expect(watched.stdout.split("\n").filter((line) => line.startsWith(id)).at(-1)).toContain("failed")
    const failed = await waitForRun(id, "to fail", (row) => row.state === "failed", 60_000)
    // The segment protocol carries the error's tag and its line: the file and line of the row.
    expect(failed.last_error).toBe(`DatasetRowError: ${badData}:2: messages: missing key`)
    expect(watched.stdout).toContain(`last error: DatasetRowError: ${badData}:2: messages: missing key`)
    const log = (await logOf(id, db)).map((line) => line.message)
    expect(log.filter((line) => line.startsWith("segment 1 started"))).toHaveLength(1)
    expect(log.join("\n")).not.toContain("trying again")
    const logs = runCli(["logs", id, "--db", db])
    expect(logs.stdout).toContain(`failed: DatasetRowError: ${badData}:2: messages: missing key`)
  }, 90_000)

  it("pause checkpoints at once, off the schedule, and nothing runs until resume; the resumed run is exact", async () => {
    const { dir, db, submit, startWorker, waitForRun } = setup()
    // No checkpoint but the final one: only a checkpoint the pause asks for can stop it early.
    const id = submit("paused", ["checkpoint.every=0"])
    startWorker()
    // The segment is held still (SIGSTOP) once it trains, until its worker has seen the pause
    // and asked it to checkpoint, so the pause lands mid-run however fast the machine is.
    const training = await waitForRun(id, "to train", (row) => row.state === "running" && row.step >= 1 && row.segment_pid !== null)
    const segmentPid = training.segment_pid!
    process.kill(segmentPid, "SIGSTOP")
    onTestFinished(() => signal(segmentPid, "SIGCONT"))
    await Effect.runPromise(pauseRun(id, { db }))
    await waitFor(`${id} to ask its segment for a checkpoint`, 30_000, async () =>
      (await logOf(id, db)).some((line) => line.message.startsWith("segment 1: pause asked")) ? true : undefined)
    signal(segmentPid, "SIGCONT")
    const paused = await waitForRun(id, "to pause", (row) => row.state === "paused")
    const at = paused.step
    console.log(`pause asked at step ${training.step}, paused at step ${at}`)
    expect(at).toBeGreaterThanOrEqual(training.step)
    expect(at).toBeLessThan(steps)
    expect(paused).toMatchObject({ last_checkpoint: `step-${String(at).padStart(8, "0")}`, segment: 1, segment_pid: null })
    // Nothing runs while it is paused.
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    expect(await statusOf(id, db)).toMatchObject({ state: "paused", step: at, segment: 1 })
    expect(readMetrics(join(dir, "paused")).map((line) => line.step)).toEqual(Array.from({ length: at }, (_, i) => i + 1))

    expect(runCli(["resume", id, "--db", db]).code).toBe(0)
    await waitForRun(id, "to succeed", (row) => row.state === "succeeded")
    expectExact(join(dir, "paused"))
    const log = (await logOf(id, db)).map((line) => line.message)
    expect(log).toEqual(expect.arrayContaining([
      "pause requested",
      "segment 1: pause asked, checkpointing after the step it is on",
      "paused",
      "resume requested",
      "resumed",
      "succeeded"
    ]))
  }, 120_000)

  it("cancel stops the running segment and leaves the run cancelled with only committed checkpoints", async () => {
    const { dir, db, submit, startWorker, waitForRun } = setup()
    // Segments of 32 steps: a segment of 8 can end before a probe sees it running (its row
    // shows the segment's process from its first progress flush, 0.5 s in).
    const every = 32
    const id = submit("cancelled", [`training.steps=${3 * every}`, `checkpoint.every=${every}`])
    startWorker()
    const running = await waitForRun(id, "in segment 2", (row) => row.segment === 2 && row.step > every && row.segment_pid !== null)
    await Effect.runPromise(cancelRun(id, { db }))
    const cancelled = await waitForRun(id, "to be cancelled", (row) => row.state === "cancelled", 30_000)
    expect(cancelled.control).toBe("none")
    // The segment's process is gone, and what it had not committed with it: the store holds
    // committed checkpoints only (step 32, and step 64 if segment 2 committed before the cancel
    // reached it), each file named by its manifest, and the run's metrics end at the last.
    expect(() => process.kill(running.segment_pid!, 0)).toThrow()
    const runDir = join(dir, "cancelled")
    const store = readdirSync(join(runDir, "checkpoints")).filter((name) => name !== "index.json").sort()
    expect([["step-00000032"], ["step-00000032", "step-00000064"]]).toContainEqual(store)
    for (const name of store) {
      const named = readManifest(runDir, name).blobs.map((blob) => blob.key)
      for (const file of readdirSync(join(runDir, "checkpoints", name)).filter((entry) => entry !== "manifest.json")) {
        expect(named).toContain(`${name}/${file}`)
      }
    }
    const last = store.length * every
    expect(readMetrics(runDir).map((line) => line.step)).toEqual(Array.from({ length: last }, (_, i) => i + 1))
    expect(cancelled.last_checkpoint).toBe(store.at(-1))
    // A cancelled run cannot be resumed.
    const resumed = runCli(["resume", id, "--db", db])
    expect(resumed.code).toBe(1)
    expect(resumed.stderr).toContain("cancelled")
  }, 120_000)

  it("cancel --checkpoint checkpoints the running segment first: every step trained is kept, and the run is cancelled", async () => {
    const { dir, db, submit, startWorker, waitForRun } = setup()
    // No checkpoint but the final one: only the one the cancel asks for can keep the steps. Long
    // enough that the cancel (a CLI process to start) always lands before the end on a busy machine.
    const id = submit("cancel-checkpoint", ["checkpoint.every=0", "training.steps=400"])
    startWorker()
    await waitForRun(id, "to train", (row) => row.state === "running" && row.step >= 2)
    const asked = runCli(["cancel", id, "--checkpoint", "--db", db])
    expect(asked.code, asked.stderr).toBe(0)
    const cancelled = await waitForRun(id, "to be cancelled", (row) => row.state === "cancelled", 60_000)
    const at = cancelled.step
    expect(at).toBeGreaterThanOrEqual(2)
    expect(at).toBeLessThan(400)
    const name = `step-${String(at).padStart(8, "0")}`
    expect(cancelled).toMatchObject({ control: "none", last_checkpoint: name, segment_pid: null })
    const runDir = join(dir, "cancel-checkpoint")
    expect(readdirSync(join(runDir, "checkpoints")).filter((entry) => entry !== "index.json")).toEqual([name])
    expect(readMetrics(runDir).map((line) => line.step)).toEqual(Array.from({ length: at }, (_, i) => i + 1))
    const log = (await logOf(id, db)).map((line) => line.message)
    expect(log).toEqual(expect.arrayContaining([
      "cancel requested, after a checkpoint",
      "segment 1: cancel asked, checkpointing after the step it is on",
      "cancelled"
    ]))
    // --checkpoint belongs to cancel only.
    expect(runCli(["pause", id, "--checkpoint", "--db", db]).stderr).toContain("--checkpoint is not an option of sous pause")
  }, 120_000)

  it("--concurrency 2: one worker trains two runs at once, each in its own kept process, both exact", async () => {
    const { dir, db, submit, startWorker, waitForRun } = setup()
    const ids = [submit("first"), submit("second")]
    startWorker(["--concurrency", "2"])
    const both = await waitFor("both runs to train at once", 90_000, async () => {
      const rows = await Promise.all(ids.map((id) => statusOf(id, db)))
      return rows.every((row) => row.state === "running" && row.step >= 1 && row.segment_pid !== null) ? rows : undefined
    })
    expect(new Set(both.map((row) => row.segment_pid)).size).toBe(2)
    for (const [i, id] of ids.entries()) {
      await waitForRun(id, "to succeed", (row) => row.state === "succeeded")
      expectExact(join(dir, i === 0 ? "first" : "second"))
      // Segments 2 and 3 went on in the process of segment 1.
      const ended = (await logOf(id, db)).map((line) => line.message).filter((line) => / ended /.test(line))
      expect(ended.filter((line) => line.endsWith("continued in its process"))).toHaveLength(2)
    }
  }, 150_000)

  it("one worker per SQLite file: a second refuses to start while the first lives, and takes over once it is dead", async () => {
    const { db, startWorker } = setup()
    const first = startWorker()
    await waitFor("the first worker to start", 30_000, async () => (existsSync(`${db}.worker.lock`) ? true : undefined))
    const second = startWorker()
    await exited(second.child)
    expect(second.child.exitCode).toBe(1)
    expect(second.output()).toContain(`another worker (pid ${first.child.pid} on `)
    expect(second.output()).toContain("one worker per SQLite file")
    first.child.kill("SIGKILL")
    await exited(first.child)
    const third = startWorker()
    await waitFor("the third worker to hold the file", 30_000, async () =>
      (JSON.parse(readFileSync(`${db}.worker.lock`, "utf8")) as { pid: number }).pid === third.child.pid ? true : undefined)
    expect(third.child.exitCode).toBeNull()
  }, 90_000)

  it("a segment that keeps crashing is tried the run's number of times with backoff, then the run fails with the cause", async () => {
    const dir = testDirectory("durable-run")
    const db = join(dir, "runs.db")
    const entry = fileURLToPath(new URL("./fixtures/crashing-segment.mjs", import.meta.url))
    const id = await Effect.runPromise(submitRun(recipe, { db, sets, runDir: join(dir, "crashing"), retry: { attempts: 3, backoffMillis: 100 } }))
    // In process, with a segment entry that crashes: the CLI's worker always runs the real one.
    const worker = Effect.runFork(runWorker({ db, entry }))
    try {
      const failed = await waitFor("the run to fail", 60_000, async () => {
        const row = await statusOf(id, db)
        return row.state === "failed" ? row : undefined
      })
      expect(failed.last_error).toMatch(/^segment 1 failed 3 times; the last: SegmentCrashedError: .*simulated crash/)
      const log = (await logOf(id, db)).map((line) => line.message)
      expect(log.filter((line) => line.startsWith("segment 1 started"))).toHaveLength(3)
      expect(log.filter((line) => line.includes("trying again in"))).toEqual([
        expect.stringContaining("attempt 1 failed (SegmentCrashedError)"),
        expect.stringContaining("attempt 2 failed (SegmentCrashedError)")
      ])
      expect(log.filter((line) => line.includes("trying again in 200 ms"))).toHaveLength(1)
    } finally {
      await Effect.runPromise(Fiber.interrupt(worker))
    }
  }, 90_000)
})
