/**
 * `npm run bench`: what a durable run costs against `sous run`, and how fast a run moves on
 * after its worker dies (SQLite, one machine).
 *
 * (a) Overhead. The same shortened example (examples/sft-arithmetic: `--steps` steps, 120 by
 * default, a checkpoint every `--every` (20), so 6 segments; width 32, one layer, wasm, eval
 * off) runs as `sous run` (timed from the spawn of the process to its exit) and twice as a
 * durable run, timed to the run's `succeeded` event in its log: submitted to a worker
 * already waiting on the database (timed from the submit: what a run costs on a running
 * worker, goal ≥ 0.95), and submitted first, untimed, then a worker spawned (timed from that
 * spawn: its start-up, about a second of module loading, counts too). Rounds alternate which
 * goes first; the report gives the medians of each over `--rounds` (3) rounds and the median
 * of the rounds' ratios. Steps/s are end to end: steps over wall time, process start-up included. Where
 * the time goes: the step time is the sum of the metrics' `seconds`; for the durable run the
 * rest is split, from the run's log, into worker start-up (spawn to segment 1 started),
 * segment overhead (each segment's wall time less its steps: process spawn, loading, restore,
 * checkpoint and adoption of the attempt's lines), time between segments and the finish.
 *
 * (b) Takeover. A durable run of the same recipe; SIGKILL its worker and its segment process
 * (a dead machine) in segment 2 (once
 * the run is past step `--every` + 5); spawn a new worker at once and time the new segment's
 * `started` event and its first step (the runs row's update from a new segment process with a
 * step the restarted segment reached again; segments report their first step at once). PostgreSQL with two workers is not
 * measured here: the bench would need its own server (the tests' helper is test code), so
 * the PostgreSQL kill test reports its takeover instead.
 *
 * Options: `--steps N` (120), `--every N` (20), `--rounds N` (3), `--takeover-only` (skip (a)). Needs a built `dist`
 * (`npx tsc -p tsconfig.build.json`); run from the repository root.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { runLog, runStatus, submitRun } from "../src/durable/runs.js"
import { countOption, formatTable, median } from "./report.js"

const { values } = parseArgs({
  options: { "takeover-only": { type: "boolean", default: false }, steps: { type: "string", default: "120" }, every: { type: "string", default: "20" }, rounds: { type: "string", default: "3" } }
})
const steps = countOption("steps", values.steps, 2)
const every = countOption("every", values.every, 1)
const rounds = countOption("rounds", values.rounds, 1)

const root = process.cwd()
const sous = join(root, "bin/sous")
const recipe = join(root, "examples/sft-arithmetic/recipe.yaml")
const sets = [
  `training.steps=${steps}`, "optimizer.warmupSteps=2", `checkpoint.every=${every}`, `eval.every=${steps * 10}`,
  "model.width=32", "model.layers=1", "backend.device=wasm"
]

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.once("exit", (code) => resolve(code))
  })
const spawnSous = (args: ReadonlyArray<string>) => {
  const child = spawn(process.execPath, [sous, ...args], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
  let output = ""
  child.stdout!.on("data", (chunk) => (output += String(chunk)))
  child.stderr!.on("data", (chunk) => (output += String(chunk)))
  return { child, output: () => output }
}
const stepSeconds = (runDir: string): Array<{ step: number; seconds: number }> =>
  readFileSync(join(runDir, "metrics.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as { step: number; seconds: number })
const sum = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)

const waitFor = async <A>(what: string, timeoutMs: number, everyMs: number, probe: () => Promise<A | undefined>): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const found = await probe().catch(() => undefined)
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(everyMs)
  }
}

interface Timing { readonly wall: number; readonly steps: number; readonly parts: Record<string, number> }

const plainRun = async (dir: string): Promise<Timing> => {
  const out = join(dir, "plain")
  const started = performance.now()
  const run = spawnSous(["run", recipe, "--out", out, ...sets.flatMap((set) => ["--set", set])])
  const code = await exited(run.child)
  const wall = (performance.now() - started) / 1000
  if (code !== 0) throw new Error(`sous run exited with ${code}:\n${run.output()}`)
  const stepTime = sum(stepSeconds(out).map((line) => line.seconds))
  return { wall, steps: stepTime, parts: { other: wall - stepTime } }
}

const submit = (dir: string, name: string) => {
  const db = join(dir, `${name}.db`)
  const runDir = join(dir, name)
  return Effect.runPromise(submitRun(recipe, { db, sets, runDir })).then((id) => ({ id, db, runDir }))
}

/**
 * A durable run, timed from the spawn of its worker (`cold`) or, with a worker already
 * waiting on the database, from the submit: a worker is a long-lived process, so the second
 * is what a run costs a user who submits to one.
 */
const durableRun = async (dir: string, cold: boolean): Promise<Timing> => {
  const db = join(dir, "durable.db")
  let submitted = cold ? await submit(dir, "durable") : undefined
  const spawnedAt = Date.now()
  const worker = spawnSous(["worker", "--db", db])
  if (submitted === undefined) await waitFor("the worker to wait for runs", 60_000, 20, async () => (worker.output().includes("running up to") ? true : undefined))
  const startedAt = cold ? spawnedAt : Date.now()
  submitted ??= await submit(dir, "durable")
  const { id, runDir } = submitted
  try {
    const row = await waitFor("the durable run to end", 600_000, 50, async () => {
      const row = await Effect.runPromise(runStatus(id, { db }))
      return row.state === "running" || row.state === "queued" ? undefined : row
    }).catch((error: Error) => Promise.reject(new Error(`${error.message}; the worker said:\n${worker.output()}`)))
    if (row.state !== "succeeded") throw new Error(`the durable run ended ${row.state}: ${row.last_error}\n${worker.output()}`)
  } finally {
    worker.child.kill("SIGKILL")
    await exited(worker.child)
  }
  const log = await Effect.runPromise(runLog(id, { db }))
  const at = (prefix: string) => log.filter((line) => line.message.startsWith(prefix)).map((line) => line.at)
  const succeeded = at("succeeded")[0]!
  const wall = (succeeded - startedAt) / 1000
  const metrics = stepSeconds(runDir)
  const stepTime = sum(metrics.map((line) => line.seconds))
  // Segment n's wall time less the seconds of its own steps; the gaps between segments.
  let segments = 0, between = 0, from = 0
  const ends = log.filter((line) => / ended /.test(line.message) && line.message.startsWith("segment"))
  const starts = log.filter((line) => /^segment \d+ started/.test(line.message)).map((line) => line.at)
  ends.forEach((end, i) => {
    const to = Number(/at step (\d+)/.exec(end.message)![1])
    const own = sum(metrics.filter((line) => line.step > from && line.step <= to).map((line) => line.seconds))
    segments += (end.at - starts[i]!) / 1000 - own
    if (i + 1 < starts.length) between += (starts[i + 1]! - end.at) / 1000
    from = to
  })
  return {
    wall,
    steps: stepTime,
    parts: {
      [cold ? "worker start-up" : "submit to segment 1"]: (starts[0]! - startedAt) / 1000,
      "segment overhead": segments,
      "between segments": between,
      finish: (succeeded - ends.at(-1)!.at) / 1000
    }
  }
}

/** SIGKILL the worker mid-segment 2, spawn a new one: ms to its segment start and to its first step. */
const takeover = async (dir: string) => {
  const { id, db } = await submit(dir, "takeover")
  const first = spawnSous(["worker", "--db", db])
  const segmentPids = new Set<number>()
  let second: ReturnType<typeof spawnSous> | undefined
  try {
    await waitFor("the run to reach segment 2", 300_000, 20, async () => {
      const row = await Effect.runPromise(runStatus(id, { db }))
      if (row.segment_pid !== null) segmentPids.add(row.segment_pid)
      return row.step >= every + 5 ? row : undefined
    })
    const atKill = await Effect.runPromise(runStatus(id, { db }))
    if (atKill.segment_pid !== null) segmentPids.add(atKill.segment_pid)
    const oldPids = new Set(segmentPids)
    // A dead machine: the worker and its segment process die together (a segment process
    // whose worker alone died stops by itself, but may first finish a commit it had begun).
    first.child.kill("SIGKILL")
    for (const pid of oldPids) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    await exited(first.child)
    const killedAt = Date.now()
    second = spawnSous(["worker", "--db", db])
    // The segment reports its first step at once; the new segment restarts from step
    // `every`'s checkpoint, so its first step is a step below the one at the kill.
    const firstStep = await waitFor("a new segment's first step", 120_000, 10, async () => {
      const row = await Effect.runPromise(runStatus(id, { db }))
      if (row.segment_pid !== null) segmentPids.add(row.segment_pid)
      const fresh = row.segment_pid !== null && !oldPids.has(row.segment_pid) && row.step > every && row.step < atKill.step
      return fresh ? row.updated_at : undefined
    }).catch(async (error) => {
      throw new Error(`${error}: run ${JSON.stringify(await Effect.runPromise(runStatus(id, { db })))}; new worker:\n${second!.output()}`)
    })
    const log = await Effect.runPromise(runLog(id, { db }))
    const started = log.find((line) => line.at >= killedAt && /^segment \d+ started/.test(line.message))
    return { segmentStarted: started === undefined ? NaN : started.at - killedAt, firstStep: firstStep - killedAt }
  } finally {
    for (const child of [first.child, second?.child]) if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await Promise.all([first.child, second?.child].filter((c) => c !== undefined).map(exited))
    for (const pid of segmentPids) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
  }
}

const main = async () => {
  const dir = await mkdtemp(join(tmpdir(), "sous-bench-durable-"))
  try {
    const plain: Array<Timing> = [], durable: Array<Timing> = [], warm: Array<Timing> = []
    const ratios: Array<number> = [], warmRatios: Array<number> = []
    for (let round = 0; round < (values["takeover-only"] ? 0 : rounds); round++) {
      const order = round % 2 === 0 ? ["plain", "durable", "warm"] as const : ["warm", "durable", "plain"] as const
      const timings = new Map<string, Timing>()
      for (const which of order) {
        const roundDir = await mkdtemp(join(dir, `${which}-`))
        timings.set(which, which === "plain" ? await plainRun(roundDir) : await durableRun(roundDir, which === "durable"))
        await rm(roundDir, { recursive: true, force: true })
      }
      const [p, d, w] = [timings.get("plain")!, timings.get("durable")!, timings.get("warm")!]
      plain.push(p), durable.push(d), warm.push(w)
      ratios.push(p.wall / d.wall), warmRatios.push(p.wall / w.wall)
    }
    const kill = await takeover(await mkdtemp(join(dir, "takeover-")))
    const fmt = (x: number, digits = 2) => x.toFixed(digits)
    const med = (xs: ReadonlyArray<Timing>, f: (t: Timing) => number) => median(xs.map(f))
    if (plain.length > 0) {
    console.log(`durable run vs sous run: examples/sft-arithmetic, ${steps} steps, a checkpoint every ${every} (${Math.ceil(steps / every)} segments), width 32, 1 layer, wasm; SQLite; medians of ${rounds} rounds`)
    console.log(formatTable([
      ["", "wall s", "steps/s", "step time s", "other s"],
      ["sous run", fmt(med(plain, (t) => t.wall)), fmt(med(plain, (t) => steps / t.wall)), fmt(med(plain, (t) => t.steps)), fmt(med(plain, (t) => t.wall - t.steps))],
      ...([["durable, worker already running", warm], ["durable, worker spawned with it", durable]] as const).map(([label, ts]) =>
        [label, fmt(med(ts, (t) => t.wall)), fmt(med(ts, (t) => steps / t.wall)), fmt(med(ts, (t) => t.steps)), fmt(med(ts, (t) => t.wall - t.steps))]
      )
    ]))
    console.log(`ratio durable/sous run steps/s, worker already running: ${fmt(median(warmRatios), 3)} (goal >= 0.95)`)
    console.log(`ratio durable/sous run steps/s, worker spawned with the run: ${fmt(median(ratios), 3)}`)
    for (const [label, ts] of [["worker already running", warm], ["worker spawned with the run", durable]] as const) {
      console.log(`where the durable run's other time goes, ${label} (medians, s):`)
      console.log(formatTable(Object.keys(ts[0]!.parts).map((part) => [`  ${part}`, fmt(med(ts, (t) => t.parts[part]!))])))
    }
    }
    console.log("takeover after SIGKILL of the worker and its segment process mid-segment 2 (SQLite, a new worker spawned at once; the row is written every 500 ms):")
    console.log(formatTable([
      ["  new segment started", `${kill.segmentStarted} ms`],
      ["  first new step", `${kill.firstStep} ms`],
      ["  PostgreSQL, two workers", "not measured (needs a server of its own; see the PostgreSQL kill test)"]
    ]))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
