import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readFileSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { RunnerAddress } from "effect/cluster"
import { afterAll, beforeAll, onTestFinished } from "vitest"
import { pgWorkflowEngineLayer } from "../../src/durable/pg-workflow-engine.js"
import { freePort, postgresSkipReason, type PostgresTestServer, startPostgresServer } from "../support/postgres-server.js"
import { testDirectory } from "../support/temp-directory.js"
import { type GatedActivity, gatedLogFile, releaseFile } from "./fixtures/gated-workflow.js"
import { fastTakeover } from "./fixtures/pg-runner-timing.js"
import { logFile, TwoStep, twoStepLayer } from "./fixtures/two-step-workflow.js"

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures")

// `SOUS_PG_TAKEOVER_TIMING=defaults` runs the takeover test with effect's cluster timings (a
// dead runner's work moves after about 35 s) instead of the test's short ones, to measure them.
const timing = process.env.SOUS_PG_TAKEOVER_TIMING === "defaults" ? "defaults" : "fast"

/** How many times an activity of the TwoStep fixture started, in every process. */
const runs = (markerDir: string, activity: "first" | "second"): number => {
  const file = logFile(markerDir, activity)
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((line) => line !== "").length : 0
}

/** Every start of a Gated activity: which execution, in which process, when. */
const starts = (markerDir: string, activity: GatedActivity) => {
  const file = gatedLogFile(markerDir, activity)
  if (!existsSync(file)) return []
  return readFileSync(file, "utf8").split("\n").filter((line) => line !== "").map((line) => {
    const [id, pid, at] = line.split(" ")
    return { id: id!, pid: Number(pid), at: Number(at) }
  })
}

const engineOn = (url: string, port: number) =>
  twoStepLayer({ hangInSecond: false }).pipe(
    Layer.provideMerge(pgWorkflowEngineLayer({
      url,
      runnerAddress: RunnerAddress.make("127.0.0.1", port),
      shardingConfig: fastTakeover
    }))
  )

const waitFor = async (condition: () => boolean, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface RunnerEvent {
  readonly event: string
  readonly pid: number
  readonly at: number
  readonly count?: number
  readonly id?: string
  readonly value?: string
}

/**
 * A runner process on the fixture `run-pg-runner.ts`: what it reported, its output for error
 * messages, and its commands. Killed when the test finishes, if it still runs.
 */
const startRunner = (url: string, port: number, markerDir: string) => {
  const child: ChildProcess = spawn(
    process.execPath,
    ["--import", "./resolve-ts.ts", "run-pg-runner.ts", url, String(port), markerDir, timing],
    { cwd: fixtures, stdio: ["pipe", "pipe", "pipe"] }
  )
  const events: Array<RunnerEvent> = []
  let text = ""
  let pending = ""
  child.stdout!.on("data", (chunk) => {
    text += String(chunk)
    pending += String(chunk)
    const lines = pending.split("\n")
    pending = lines.pop()!
    for (const line of lines) if (line.startsWith("{\"event\"")) events.push(JSON.parse(line))
  })
  child.stderr!.on("data", (chunk) => (text += String(chunk)))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await exited
  }
  onTestFinished(kill)
  return {
    pid: child.pid!,
    events,
    output: () => text,
    /** Shards of the default group it held at its last report. */
    shards: () => events.findLast((event) => event.event === "shards")?.count ?? 0,
    send: (line: string) => child.stdin!.write(`${line}\n`),
    kill
  }
}

const skipReason = postgresSkipReason()
// The default reporter shows a skipped suite only as a count: say why once.
if (skipReason !== undefined) console.warn(`PostgreSQL workflow tests ${skipReason}`)
const suiteName = "durable workflows on PostgreSQL (ClusterWorkflowEngine on socket runners)"
const ids = Array.from({ length: 8 }, (_, i) => `run-${i}`)
const shardsPerGroup = 300

describe.skipIf(skipReason !== undefined)(skipReason === undefined ? suiteName : `${suiteName} (${skipReason})`, () => {
  let server: PostgresTestServer | undefined
  beforeAll(async () => {
    server = await startPostgresServer()
  }, 60_000)
  afterAll(() => server?.stop())

  it.live("journals a run finished on one runner: the same key returns the stored result, running no activity", () => {
    const markerDir = testDirectory("pg-engine")
    const payload = { id: "run-1", markerDir }
    return Effect.gen(function*() {
      const url = yield* Effect.promise(() => server!.createDatabase())
      const port = yield* Effect.promise(freePort)
      const result = yield* Effect.gen(function*() {
        return [yield* TwoStep.execute(payload), yield* TwoStep.execute(payload)]
      }).pipe(Effect.provide(engineOn(url, port)))
      assert.deepStrictEqual(result, ["second(first(run-1))", "second(first(run-1))"])
      assert.deepStrictEqual([runs(markerDir, "first"), runs(markerDir, "second")], [1, 1])

      // A new runner on the same database answers from the journal; another key runs anew.
      const [reopened, other] = yield* Effect.gen(function*() {
        return [yield* TwoStep.execute(payload), yield* TwoStep.execute({ id: "run-2", markerDir })]
      }).pipe(Effect.provide(engineOn(url, port)))
      assert.strictEqual(reopened, "second(first(run-1))")
      assert.strictEqual(other, "second(first(run-2))")
      assert.deepStrictEqual([runs(markerDir, "first"), runs(markerDir, "second")], [2, 2])
    })
  }, 30_000)

  it("moves a killed runner's executions to the survivor, which finishes them without re-running finished activities", async () => {
    const markerDir = testDirectory("pg-engine")
    const url = await server!.createDatabase()
    const runners = [
      startRunner(url, await freePort(), markerDir),
      startRunner(url, await freePort(), markerDir)
    ] as const
    const step = async (condition: () => boolean, timeoutMs: number, what: string) => {
      try {
        await waitFor(condition, timeoutMs, what)
      } catch (error) {
        const outputs = runners.map((runner) => `--- runner ${runner.pid}:\n${runner.output()}`).join("\n")
        throw new Error(`${String(error)}; the runners wrote:\n${outputs}`)
      }
    }
    const secondStarts = () => starts(markerDir, "second")

    // Both runners hold shards, and every shard is held, before any execution starts: a
    // shard moving later would restart its executions for a reason other than the kill.
    await step(
      () => runners.every((runner) => runner.shards() > 0) && runners[0].shards() + runners[1].shards() === shardsPerGroup,
      30_000,
      "both runners to share the shards"
    )
    runners[0].send(`start ${ids.join(" ")}`)
    await step(() => secondStarts().length === ids.length, 15_000, "every execution to reach its second activity")

    // Kill the runner running the most second activities (each runner runs the executions of
    // its shards, wherever they were started), then let every second activity finish.
    const runningOn = (pid: number) => secondStarts().filter((start) => start.pid === pid).map((start) => start.id)
    const [doomed, survivor] = runningOn(runners[0].pid).length >= runningOn(runners[1].pid).length
      ? runners
      : [runners[1], runners[0]]
    const orphans = runningOn(doomed.pid)
    const killedAt = Date.now()
    await doomed.kill()
    writeFileSync(releaseFile(markerDir), "")

    const restarted = () => secondStarts().filter((start) => start.pid === survivor.pid && orphans.includes(start.id))
    await step(
      () => restarted().length === orphans.length,
      timing === "fast" ? 30_000 : 120_000,
      "the survivor to restart the killed runner's activities"
    )
    survivor.send(`await ${ids.join(" ")}`)
    const completions = () => survivor.events.filter((event) => event.event === "complete")
    await step(() => completions().length === ids.length, 30_000, "every execution to complete")

    assert.deepStrictEqual(
      new Map(completions().map((event) => [event.id, event.value])),
      new Map(ids.map((id) => [id, `second(first(${id}))`]))
    )
    // Every first activity had finished before the kill and ran once; a second activity ran
    // again only where its runner died under it.
    assert.deepStrictEqual(starts(markerDir, "first").map((start) => start.id).sort(), [...ids].sort())
    for (const id of ids) {
      const expected = orphans.includes(id) ? 2 : 1
      assert.strictEqual(secondStarts().filter((start) => start.id === id).length, expected, `second activity runs of ${id}`)
    }

    const takeovers = restarted().map((start) => start.at - killedAt)
    console.log(
      `takeover (${timing} timings): ${orphans.length} of ${ids.length} executions were in flight on the killed runner; ` +
        `their activities restarted on the survivor ${Math.min(...takeovers)}–${Math.max(...takeovers)} ms after the kill`
    )
  }, timing === "fast" ? 90_000 : 180_000)
})
