/**
 * `npm run bench`: how much the job service (`sous jobs serve`) answers, and how soon its
 * dashboard stream shows a new training point (SQLite, the server in this process).
 *
 * First, untimed, one short job trains to the end on a server with its own worker
 * (examples/sft-arithmetic's first 45 rows on `sous/micro-transformer`, batches of 8,
 * `--epochs` epochs, 3 by default: some 30 events), so that (b) lists a real history. That
 * server closes; the measurements then run on a server over the same database with no worker
 * (`worker: false`), so no training competes with the requests.
 *
 * (a) Job creation: one small file uploaded (`POST /v1/files`, multipart), then `--creates`
 * (200) `POST /v1/fine_tuning/jobs` over it, `--concurrency` (8) at a time, with plain
 * `fetch`. Each create checks the request and the recipe, writes the job's directory and
 * submits its durable run. Requests per second over the whole batch, and the latencies'
 * p50 and p95.
 *
 * (b) Event listing: `--lists` (1000) `GET /v1/fine_tuning/jobs/{id}/events?limit=20` of the
 * trained job, `--concurrency` at a time. Each reads the run's log from the database and its
 * committed files from disk. Requests per second, p50 and p95.
 *
 * (c) Metric to stream: a created job (queued, nothing trains it) with its live stream
 * (`GET /v1/sous/jobs/{id}/stream`) open; the bench appends `--points` (50) lines
 * `{"step":N,"loss":...}` to `<runDir>/attempts/<id>/metrics.jsonl`, one every ~100 ms, as a
 * training process does, and times each from just before its write to the `event: metrics`
 * that carries its step. The stream reads the run every `--poll-ms` (the server's
 * `streamPollMs`, 250 by default), so a point should wait at most about that long: the report
 * gives p50, p95 and max, and each over the poll interval (the ratio is what to compare
 * between machines).
 *
 * Options: `--creates N` (200), `--lists N` (1000), `--concurrency N` (8), `--points N` (50),
 * `--poll-ms N` (250), `--epochs N` (3). Needs a built `dist` (`npx tsc -p
 * tsconfig.build.json`: the worker's segment processes run from it); run from the repository
 * root.
 */
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { appendFile, mkdir } from "node:fs/promises"
import { availableParallelism, cpus } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { startJobsServer } from "../src/jobs/serve-jobs.js"
import { makeTenants, type Tenants } from "../src/jobs/tenants.js"
import { countOption, formatTable, runBench } from "./report.js"

const { values } = parseArgs({
  options: {
    creates: { type: "string", default: "200" },
    lists: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "8" },
    points: { type: "string", default: "50" },
    "poll-ms": { type: "string", default: "250" },
    epochs: { type: "string", default: "3" }
  }
})
const creates = countOption("creates", values.creates, 1)
const lists = countOption("lists", values.lists, 1)
const concurrency = countOption("concurrency", values.concurrency, 1)
const points = countOption("points", values.points, 1)
const pollMs = countOption("poll-ms", values["poll-ms"], 1)
const epochs = countOption("epochs", values.epochs, 1)

const root = process.cwd()
const key = `sk-bench-${randomBytes(12).toString("hex")}`
const rows = 45
const trainingRows = readFileSync(join(root, "examples/sft-arithmetic/data/train.jsonl"), "utf8").split("\n").slice(0, rows).join("\n") + "\n"

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The value below which `fraction` of `values` lie (nearest rank). */
const percentile = (values: ReadonlyArray<number>, fraction: number): number => {
  if (values.length === 0) throw new RangeError("percentile of no values")
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))]!
}

/** A JSON request to the service; throws with the body on a status other than 2xx. */
const call = async (url: string, method: string, body?: unknown): Promise<unknown> => {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const text = await response.text()
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`)
  return JSON.parse(text) as unknown
}

const upload = async (base: string): Promise<string> => {
  const form = new FormData()
  form.append("purpose", "fine-tune")
  form.append("file", new Blob([trainingRows], { type: "application/jsonl" }), "arithmetic.jsonl")
  const response = await fetch(`${base}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body: form })
  const text = await response.text()
  if (!response.ok) throw new Error(`POST /v1/files: ${response.status} ${text}`)
  return (JSON.parse(text) as { id: string }).id
}

const jobBody = (trainingFile: string, nEpochs: number) => ({
  model: "sous/micro-transformer",
  training_file: trainingFile,
  method: { type: "supervised", supervised: { hyperparameters: { n_epochs: nEpochs, batch_size: 8 } } }
})

const createJob = async (base: string, trainingFile: string, nEpochs: number) =>
  (await call(`${base}/v1/fine_tuning/jobs`, "POST", jobBody(trainingFile, nEpochs))) as { id: string; status: string }

interface Load {
  readonly seconds: number
  readonly latencies: ReadonlyArray<number>
}

/** `count` requests, `concurrency` in flight at a time: the wall time and each one's latency (ms). */
const load = async (count: number, request: (index: number) => Promise<unknown>): Promise<Load> => {
  const latencies: Array<number> = []
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const index = next++
      const sent = performance.now()
      await request(index)
      latencies.push(performance.now() - sent)
    }
  }))
  return { seconds: (performance.now() - started) / 1000, latencies }
}

/** Trains one short job to the end on a server with its own worker; its id. */
const trainJob = (db: string, home: string, tenants: Tenants) =>
  Effect.scoped(Effect.gen(function*() {
    // The segment entry is named: the default, found beside the compiled module, is looked for
    // under dist-bench/, which has none.
    const entry = join(root, "dist/durable/segment/segment-main.js")
    const server = yield* startJobsServer({ db, home, tenants, port: 0, worker: { entry } })
    return yield* Effect.promise(async () => {
      const file = await upload(server.url)
      const { id } = await createJob(server.url, file, epochs)
      const deadline = Date.now() + 600_000
      while (true) {
        const job = (await call(`${server.url}/v1/fine_tuning/jobs/${id}`, "GET")) as { status: string; error: unknown }
        if (job.status === "succeeded") return id
        if (job.status === "failed" || job.status === "cancelled") throw new Error(`the trained job ended ${job.status}: ${JSON.stringify(job.error)}`)
        if (Date.now() > deadline) throw new Error(`the trained job did not end in 10 minutes (${job.status})`)
        await sleep(200)
      }
    })
  }))

/**
 * Opens the job's stream, appends `points` live lines one every ~100 ms, and gives each
 * line's ms from just before its write to the `event: metrics` that carried its step.
 */
const streamLatency = async (base: string, runDir: string, id: string): Promise<ReadonlyArray<number>> => {
  const written = new Map<number, number>()
  const received = new Map<number, number>()
  const abort = new AbortController()
  const response = await fetch(`${base}/v1/sous/jobs/${id}/stream`, { headers: { authorization: `Bearer ${key}` }, signal: abort.signal })
  if (!response.ok || response.body === null) throw new Error(`the stream answered ${response.status}`)
  let firstMetrics: () => void = () => undefined
  const opened = new Promise<void>((resolve) => (firstMetrics = resolve))
  // Reads messages until aborted; stamps each step at the arrival of the chunk holding it.
  const reading = (async () => {
    const decoder = new TextDecoder()
    let buffer = ""
    try {
      for await (const chunk of response.body!) {
        const at = performance.now()
        buffer += decoder.decode(chunk as Uint8Array, { stream: true })
        let end: number
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const event = /^event: (.*)$/m.exec(message)?.[1]
          const data = /^data: (.*)$/m.exec(message)?.[1]
          if (event === "metrics" && data !== undefined) {
            for (const point of (JSON.parse(data) as { train: Array<{ step: number }> }).train) received.set(point.step, at)
            firstMetrics()
          } else if (event === "end" || event === "error") throw new Error(`the stream ended early: ${message}`)
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) throw error
    }
  })()
  await Promise.race([opened, reading])
  const attempt = join(runDir, "attempts", "bench")
  await mkdir(attempt, { recursive: true })
  const file = join(attempt, "metrics.jsonl")
  for (let step = 1; step <= points; step++) {
    const line = `${JSON.stringify({ step, loss: 2 / step, lr: 0.001, tokens: 64 * step, seconds: 0.1 })}\n`
    written.set(step, performance.now())
    await appendFile(file, line)
    await sleep(100)
  }
  const deadline = Date.now() + 10 * pollMs + 5_000
  while (received.size < points && Date.now() < deadline) await sleep(10)
  abort.abort()
  await reading
  if (received.size < points) throw new Error(`the stream carried ${received.size} of ${points} points`)
  return [...written].map(([step, at]) => received.get(step)! - at)
}

const context = () => {
  const cpu = cpus()[0]?.model ?? "unknown CPU"
  return `Node ${process.version}, ${availableParallelism()} cores (${cpu}), ${process.platform}/${process.arch}`
}

await runBench("sous-bench-jobs-", (dir) =>
  Effect.gen(function*() {
    const tenants = yield* makeTenants({ tenants: [{ id: "bench", keys: [key] }] })
    const db = join(dir, "runs.db")
    const home = join(dir, "home")
    const trainStarted = performance.now()
    const trained = yield* trainJob(db, home, tenants)
    const trainSeconds = (performance.now() - trainStarted) / 1000

    const server = yield* startJobsServer({ db, home, tenants, port: 0, worker: false, streamPollMs: pollMs })
    const base = server.url
    const results = yield* Effect.promise(async () => {
      const file = await upload(base)
      const created = await load(creates, () => createJob(base, file, 1))
      const events = (await call(`${base}/v1/fine_tuning/jobs/${trained}/events?limit=100`, "GET")) as { data: Array<unknown>; has_more: boolean }
      const listed = await load(lists, () => call(`${base}/v1/fine_tuning/jobs/${trained}/events?limit=20`, "GET"))
      const { id } = await createJob(base, file, 1)
      const stream = await streamLatency(base, join(home, "jobs", id, "run"), id)
      return { created, events, listed, stream }
    })
    yield* server.close

    const { created, events, listed, stream } = results
    const ms = (x: number) => x.toFixed(1)
    const rate = (l: Load) => (l.latencies.length / l.seconds).toFixed(0)
    console.log(`job service (sous jobs serve): SQLite, the server in this process with no worker; ${context()}`)
    console.log(`trained first: one job of ${epochs} epoch${epochs === 1 ? "" : "s"} on sous/micro-transformer (${rows} rows, batches of 8) with a worker, ${trainSeconds.toFixed(1)} s, ${events.data.length}${events.has_more ? "+" : ""} events`)
    console.log(formatTable([
      ["", "requests", "concurrency", "req/s", "p50 ms", "p95 ms"],
      ["(a) POST /v1/fine_tuning/jobs", String(creates), String(concurrency), rate(created), ms(percentile(created.latencies, 0.5)), ms(percentile(created.latencies, 0.95))],
      ["(b) GET .../events?limit=20", String(lists), String(concurrency), rate(listed), ms(percentile(listed.latencies, 0.5)), ms(percentile(listed.latencies, 0.95))]
    ]))
    const [p50, p95, max] = [percentile(stream, 0.5), percentile(stream, 0.95), Math.max(...stream)]
    console.log(`(c) metric line appended to a live attempt -> its event: metrics on /v1/sous/jobs/{id}/stream, ${points} points ~100 ms apart, stream poll ${pollMs} ms:`)
    console.log(formatTable([
      ["", "p50", "p95", "max"],
      ["  latency ms", ms(p50), ms(p95), ms(max)],
      ["  latency / poll interval", (p50 / pollMs).toFixed(2), (p95 / pollMs).toFixed(2), (max / pollMs).toFixed(2)]
    ]))
    console.log(`  bound: the poll interval (${pollMs} ms, ratio 1.00) plus a read; ${max <= pollMs ? "every point within it" : `${stream.filter((x) => x > pollMs).length} of ${points} over it`}`)
  }))
