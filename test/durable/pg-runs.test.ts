import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { fastTakeoverVariable, runsDatabaseLayers } from "../../src/durable/database.js"
import { cancelRun, listRuns, pauseRun, resumeRun, runLog, runStatus, submitRun } from "../../src/durable/runs.js"
import { root, runCli, runCliAsync } from "../cli/run-cli.js"
import { freePort, postgresSkipReason, type PostgresTestServer, startPostgresServer } from "../support/postgres-server.js"
import { exited, signal, workerProcesses } from "../support/processes.js"
import { readCheckpointState, readMetrics } from "../support/run-directory.js"
import { sftRecipe, shortSftSets } from "../support/short-sft.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"
import { waitFor } from "../support/wait-for.js"

// Durable runs on PostgreSQL through the real `sous` command: the runs table on a server of
// the test's own, and two `sous worker --db postgres://...` processes sharing three runs, one
// of them SIGKILLed. The recipe is durable-run.test.ts's shortened example, longer (64 steps,
// a checkpoint every 8), so no run can end before all three train at once. The workers run
// with SOUS_TEST_FAST_TAKEOVER=1: a dead worker's shards move after about 5 s instead of
// effect's 35 s.
const steps = 64
const sets = shortSftSets(steps, 8)
const recipe = sftRecipe
const suite = suiteDirectory("pg-runs")
const referenceDir = join(suite, "reference")
const setArgs = sets.flatMap((set) => ["--set", set])
const shardsPerGroup = 300
const secret = "s3cr3t-pg-pass"

/** The process that spawned `pid` (Linux's /proc), to tell which worker runs a segment. */
const parentOf = (pid: number): number | undefined => {
  try {
    return Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1])
  } catch {
    return undefined
  }
}

/**
 * Shards held per database session. On PostgreSQL the cluster's shard locks are advisory
 * locks of two keys (`objsubid` 2), one session per runner holding its shards'.
 */
const shardHolders = (url: string) =>
  Effect.runPromise(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ pid: number; shards: number | string | bigint }>`SELECT pid, COUNT(*) AS shards FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND objsubid = 2 GROUP BY pid`
  }).pipe(Effect.provide(runsDatabaseLayers(url).sql)))

/** The attempt directories of a run. */
const attempts = (runDir: string): ReadonlyArray<string> => {
  const dir = join(runDir, "attempts")
  return existsSync(dir) ? readdirSync(dir) : []
}

/** Whether the attempt has written a step's metrics. */
const hasStep = (runDir: string, attempt: string): boolean => {
  const file = join(runDir, "attempts", attempt, "metrics.jsonl")
  return existsSync(file) && readFileSync(file, "utf8").trim() !== ""
}

const skipReason = postgresSkipReason()
if (skipReason !== undefined) console.warn(`PostgreSQL durable-run tests ${skipReason}`)
const suiteName = "durable runs on PostgreSQL (sous worker --db postgres://...)"

describe.skipIf(skipReason !== undefined)(skipReason === undefined ? suiteName : `${suiteName} (${skipReason})`, () => {
  let server: PostgresTestServer | undefined
  beforeAll(async () => {
    server = await startPostgresServer()
    const reference = runCli(["run", recipe, "--out", referenceDir, ...setArgs])
    expect(reference.code, reference.stderr).toBe(0)
  }, 300_000)
  afterAll(() => server?.stop())

  it("the runs table and every command work on PostgreSQL; a password in the URL is never printed", async () => {
    const dir = testDirectory("pg-runs")
    const url = await server!.createDatabase()
    const db = { db: url }
    const id = await Effect.runPromise(submitRun(recipe, { ...db, sets, runDir: join(dir, "queued") }))
    const queued = await Effect.runPromise(runStatus(id, db))
    // Integers (BIGINT included) decode as numbers.
    expect(queued).toMatchObject({ id, state: "queued", control: "none", step: 0, total_steps: steps, max_attempts: 3, backoff_ms: 1_000 })
    expect(typeof queued.created_at).toBe("number")
    await Effect.runPromise(pauseRun(id, db))
    await Effect.runPromise(resumeRun(id, db))
    await Effect.runPromise(cancelRun(id, db))
    expect((await Effect.runPromise(listRuns(db))).map((run) => [run.id, run.state])).toEqual([[id, "cancelled"]])
    const log = (await Effect.runPromise(runLog(id, db))).map((line) => line.message)
    expect(log.slice(1)).toEqual(["pause requested", "resume requested", "cancelled before it started"])

    // The CLI on the same database, the URL carrying a password (trust authentication ignores it).
    const withPassword = url.replace("postgres@", `postgres:${secret}@`)
    const listed = runCli(["runs", "--db", withPassword])
    expect(listed.code, listed.stderr).toBe(0)
    expect(listed.stdout).toContain(`${id}  cancelled`)
    const logs = runCli(["logs", id, "--db", withPassword])
    expect(logs.stdout).toContain("cancelled before it started")
    // A server that is not there: the error says so, without the password, even verbose.
    const nowhere = `postgres://postgres:${secret}@127.0.0.1:${await freePort()}/nowhere`
    for (const extra of [[], ["--verbose"]]) {
      const failed = runCli(["status", id, "--db", nowhere, ...extra])
      expect(failed.code).toBe(1)
      expect(failed.stdout + failed.stderr).not.toContain(secret)
    }
    const badAddress = runCli(["worker", "--db", withPassword, "--runner-address", "nope"])
    expect(badAddress.code).toBe(2)
    expect(badAddress.stderr).toContain("--runner-address must be host:port")
  }, 300_000)

  it("two workers share three runs; one is SIGKILLed; the survivor finishes every run exact", async () => {
    const dir = testDirectory("pg-runs")
    const url = await server!.createDatabase()
    const { workers, segmentPids } = workerProcesses()
    const outputs = () => workers.map(({ child, output }) => `--- worker ${child.pid}:\n${output()}`).join("\n")
    const startWorker = async () => {
      const address = `127.0.0.1:${await freePort()}`
      const child = spawn(
        process.execPath,
        [join(root, "bin/sous"), "worker", "--db", url, "--concurrency", "3", "--runner-address", address],
        { cwd: root, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, [fastTakeoverVariable]: "1" } }
      )
      let text = ""
      child.stdout!.on("data", (chunk) => (text += String(chunk)))
      child.stderr!.on("data", (chunk) => (text += String(chunk)))
      const worker = { child, address, output: () => text }
      workers.push(worker)
      return worker
    }
    const both = [await startWorker(), await startWorker()] as const
    // Both workers hold shards, and every shard is held, before any run starts: a shard that
    // moved later would restart its run for a reason other than the kill.
    await waitFor("both workers to share the shards", 120_000, async () => {
      const held = await shardHolders(url)
      const total = held.reduce((sum, row) => sum + Number(row.shards), 0)
      return held.length === 2 && total === shardsPerGroup ? held : undefined
    }, 100, outputs)

    const runDirs = new Map<string, string>()
    // Submitted at once, so they start within a moment of each other: one after another, the
    // first could finish on an idle machine before the last had begun.
    await Promise.all(["a", "b", "c"].map(async (name) => {
      const runDir = join(dir, name)
      const submitted = await runCliAsync(["submit", recipe, ...setArgs, "--out", runDir, "--db", url])
      expect(submitted.code, submitted.stderr).toBe(0)
      runDirs.set(submitted.stdout.trim(), runDir)
    }))
    const ids = [...runDirs.keys()]
    const statusOf = (id: string) => Effect.runPromise(runStatus(id, { db: url }))
    // On a timeout: each run's row and log besides the workers' output.
    const runsAndOutputs = async () => {
      const rows = await Promise.all(ids.map(async (id) => {
        const row = await statusOf(id)
        const log = (await Effect.runPromise(runLog(id, { db: url }))).map((line) => `  ${line.message}`).join("\n")
        return `--- ${id}: ${row.state} step ${row.step} segment ${row.segment_pid} (parent ${row.segment_pid === null ? "-" : parentOf(row.segment_pid)})\n${log}`
      }))
      return `${rows.join("\n")}\n${outputs()}`
    }

    // Every run trains in a segment process; which worker spawned it says where it runs. A
    // run's segment_pid is cleared for a moment between segments, so where each run was seen
    // training is kept across probes until all three are seen, still running.
    const placement = new Map<string, number>()
    await waitFor("every run to train", 240_000, async () => {
      const rows = await Promise.all(ids.map(statusOf))
      rows.forEach((row, i) => {
        if (row.segment_pid !== null) segmentPids.add(row.segment_pid)
        const parent = row.segment_pid === null ? undefined : parentOf(row.segment_pid)
        if (row.state === "running" && row.step >= 2 && parent !== undefined) placement.set(ids[i]!, parent)
      })
      return placement.size === ids.length && rows.every((row) => row.state === "running") ? placement : undefined
    }, 100, runsAndOutputs)
    const runsOf = (worker: (typeof both)[number]) => ids.filter((id) => placement.get(id) === worker.child.pid)
    // Kill the worker running more runs (the runs' shards are hashed from their ids, so all
    // three may land on one worker; then that one dies and the survivor takes all three).
    const [doomed, survivor] = runsOf(both[0]).length >= runsOf(both[1]).length ? both : [both[1], both[0]]
    const orphans = runsOf(doomed)
    console.log(`runs per worker before the kill: ${runsOf(both[0]).length} and ${runsOf(both[1]).length}`)
    // A dead machine takes its segment processes with it: kill them too. (An orphan stops by
    // itself once it sees its worker gone, but may first finish a commit it had begun.)
    const orphanSegments = [...segmentPids].filter((pid) => parentOf(pid) === doomed.child.pid)
    doomed.child.kill("SIGKILL")
    for (const pid of orphanSegments) signal(pid, "SIGKILL")
    await exited(doomed.child)
    const killedAt = Date.now()
    const before = new Map(orphans.map((id) => [id, new Set(attempts(runDirs.get(id)!))]))

    // Takeover: the survivor runs a segment of each run the dead worker had, and its new
    // attempt has trained a step.
    const takeovers = await Promise.all(orphans.map((id) =>
      waitFor(`the survivor to train ${id}`, 120_000, async () => {
        const runDir = runDirs.get(id)!
        const row = await statusOf(id)
        if (row.segment_pid !== null) segmentPids.add(row.segment_pid)
        const onSurvivor = row.segment_pid !== null && parentOf(row.segment_pid) === survivor.child.pid
        const fresh = attempts(runDir).filter((attempt) => !before.get(id)!.has(attempt) && hasStep(runDir, attempt))
        return onSurvivor && fresh.length > 0 ? Date.now() - killedAt : undefined
      }, 100, outputs)
    ))
    // When the survivor started the segment (its log line), apart from the segment's start-up.
    const segmentStarts = await Promise.all(orphans.map(async (id) =>
      (await Effect.runPromise(runLog(id, { db: url }))).find((line) => line.at >= killedAt && line.message.startsWith("segment"))!.at - killedAt
    ))
    const range = (values: ReadonlyArray<number>) => `${Math.min(...values)}–${Math.max(...values)} ms`
    console.log(
      `takeover after SIGKILL (5 s shard-lock expiry): ${orphans.length} of ${ids.length} runs were on the killed worker; ` +
        `the survivor started their segments ${range(segmentStarts)} and trained their first new step ${range(takeovers)} after the kill`
    )

    for (const id of ids) {
      const done = await waitFor(`${id} to succeed`, 240_000, async () => {
        const row = await statusOf(id)
        if (row.segment_pid !== null) segmentPids.add(row.segment_pid)
        return row.state === "succeeded" ? row : undefined
      }, 100, outputs)
      expect(done).toMatchObject({ step: steps, last_checkpoint: "final", last_error: null })
      const runDir = runDirs.get(id)!
      expect(readCheckpointState(runDir).equals(readCheckpointState(referenceDir))).toBe(true)
      expect(readMetrics(runDir).map((line) => line.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1))
    }
    expect(survivor.child.exitCode).toBeNull()
    // The survivor logged no error (level 50 and up) and did not fail. Warnings are allowed:
    // on a busy machine the cluster retries shard releases that time out at the test's short
    // settings.
    const errors = survivor.output().split("\n").filter((line) => {
      if (!line.startsWith("{")) return line.startsWith("sous:")
      try {
        const level = (JSON.parse(line) as { readonly level?: number }).level
        return level !== undefined && level >= 50
      } catch {
        return false // not a log line of pino's
      }
    })
    expect(errors).toEqual([])
  }, 300_000)
})
