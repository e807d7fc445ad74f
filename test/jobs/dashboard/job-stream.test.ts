import { appendFileSync, mkdirSync, writeFileSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { describe, expect, it, onTestFinished } from "vitest"
import { type JobStreamOptions, type JobStreamSource, type MetricsMessage, streamJob } from "../../../src/jobs/dashboard/job-stream.js"
import { testDirectory } from "../../support/temp-directory.js"

// streamJob behind a real node:http server, read with fetch as the dashboard reads it, over a
// run directory the test writes into while the client is connected.

const metric = (step: number) => `${JSON.stringify({ step, loss: 3 - step / 10, lr: 0.001 })}\n`
const evaluation = (step: number, nll: number) =>
  `${JSON.stringify({ time: new Date().toISOString(), name: "eval", step, data: { eval_nll: nll } })}\n`

interface Job {
  id: string
  status: string
  sous: { step: number; total_steps: number }
}

/** A run with steps 1-3 committed and 4-5 live in an attempt; its job, running. */
const makeRun = () => {
  const runDir = testDirectory("job-stream")
  writeFileSync(join(runDir, "metrics.jsonl"), [1, 2, 3].map(metric).join(""))
  writeFileSync(join(runDir, "events.jsonl"), evaluation(2, 2.5))
  const attempt = join(runDir, "attempts", "a1")
  mkdirSync(attempt, { recursive: true })
  writeFileSync(join(attempt, "metrics.jsonl"), [1, 2, 3, 4, 5].map(metric).join(""))
  const job: Job = { id: "ftjob-test", status: "running", sous: { step: 5, total_steps: 10 } }
  return { runDir, attempt, job }
}

/** A server answering every request with `streamJob(source)`; `handled` holds each call's promise. */
const serve = async (source: JobStreamSource, options: JobStreamOptions) => {
  const handled: Array<Promise<void>> = []
  const server = createServer((request, response) => {
    handled.push(streamJob(request, response, source, options))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  onTestFinished(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/stream`, handled }
}

type Message = { readonly event: string; readonly data: string } | { readonly comment: string }

/** A text/event-stream response read message by message, comments included. */
const openStream = async (url: string) => {
  const abort = new AbortController()
  const response = await fetch(url, { signal: abort.signal })
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  const queue: Array<Message> = []
  let buffer = ""
  let ended = false
  const fill = async () => {
    const chunk = await reader.read()
    if (chunk.done) {
      ended = true
      return
    }
    buffer += chunk.value
    let boundary: number
    while ((boundary = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, boundary)
      buffer = buffer.slice(boundary + 2)
      if (block.startsWith(":")) {
        queue.push({ comment: block.slice(1).trim() })
        continue
      }
      const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]))
      queue.push({ event: fields["event"] ?? "message", data: fields["data"] ?? "" })
    }
  }
  /** The next message, or undefined once the response ended. */
  const next = async (timeoutMs = 5_000): Promise<Message | undefined> => {
    const deadline = Date.now() + timeoutMs
    while (queue.length === 0 && !ended) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no message within ${timeoutMs} ms`)
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no message within ${timeoutMs} ms`)), left)
      })
      // A pending read is kept for the next call: reads are not abandoned, only waited on.
      pending ??= fill().finally(() => {
        pending = undefined
      })
      await Promise.race([pending, timeout]).finally(() => clearTimeout(timer))
    }
    return queue.shift()
  }
  let pending: Promise<void> | undefined
  /** The next `event:` message (comments skipped). */
  const nextEvent = async (timeoutMs = 5_000) => {
    while (true) {
      const message = await next(timeoutMs)
      if (message === undefined) return undefined
      if ("event" in message) return message
    }
  }
  onTestFinished(() => abort.abort())
  return { response, next, nextEvent, close: () => abort.abort() }
}

const metricsOf = (message: Message | undefined): MetricsMessage => {
  if (message === undefined || !("event" in message) || message.event !== "metrics") {
    throw new Error(`expected a metrics message, got ${JSON.stringify(message)}`)
  }
  return JSON.parse(message.data) as MetricsMessage
}

const steps = (points: ReadonlyArray<{ readonly step: number }>) => points.map((point) => point.step)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe("streamJob", () => {
  it("sends every point so far, then each new one as the attempt appends it, then ends after a final status", async () => {
    const { attempt, job, runDir } = makeRun()
    const { handled, url } = await serve({ runDir, job: async () => structuredClone(job) }, { pollMs: 50 })
    const stream = await openStream(url)
    expect(stream.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8")
    expect(stream.response.headers.get("cache-control")).toContain("no-cache")

    const first = metricsOf(await stream.nextEvent())
    expect(steps(first.train)).toEqual([1, 2, 3, 4, 5])
    expect(first.eval).toEqual([{ step: 2, eval_nll: 2.5 }])
    expect(await stream.nextEvent()).toEqual({ event: "job", data: JSON.stringify(job) })

    // A line arrives whole, however the writer splits it.
    const sixth = metric(6)
    appendFileSync(join(attempt, "metrics.jsonl"), sixth.slice(0, 10))
    await sleep(200)
    appendFileSync(join(attempt, "metrics.jsonl"), sixth.slice(10) + metric(7))
    appendFileSync(join(attempt, "events.jsonl"), evaluation(6, 2.1))
    const appended = metricsOf(await stream.nextEvent())
    expect(steps(appended.train)).toEqual([6, 7])
    expect(appended.eval).toEqual([{ step: 6, eval_nll: 2.1 }])

    // The job succeeds with its last step committed: that point comes before the end.
    writeFileSync(join(runDir, "metrics.jsonl"), [1, 2, 3, 4, 5, 6, 7, 8].map(metric).join(""))
    job.status = "succeeded"
    job.sous.step = 8
    const last = metricsOf(await stream.nextEvent())
    expect(steps(last.train)).toEqual([8])
    expect(await stream.nextEvent()).toEqual({ event: "job", data: JSON.stringify(job) })
    expect(await stream.nextEvent()).toEqual({ event: "end", data: JSON.stringify({ status: "succeeded" }) })
    expect(await stream.next()).toBeUndefined()
    await Promise.all(handled)
  })

  it("sends the job again only when its JSON changes", async () => {
    const { job, runDir } = makeRun()
    const { url } = await serve({ runDir, job: async () => structuredClone(job) }, { pollMs: 20 })
    const stream = await openStream(url)
    expect((await stream.nextEvent())?.event).toBe("metrics")
    expect((await stream.nextEvent())?.event).toBe("job")
    // About 15 polls of an unchanged run and job send nothing.
    await expect(stream.nextEvent(300)).rejects.toThrow("no message within 300 ms")
    job.sous.step = 6
    expect(await stream.nextEvent()).toEqual({ event: "job", data: JSON.stringify(job) })
    job.status = "cancelled"
    expect(await stream.nextEvent()).toEqual({ event: "job", data: JSON.stringify(job) })
    expect(await stream.nextEvent()).toEqual({ event: "end", data: JSON.stringify({ status: "cancelled" }) })
  })

  it("ends at once for a job already final, with every point in its first message", async () => {
    const { job, runDir } = makeRun()
    job.status = "failed"
    const { url } = await serve({ runDir, job: async () => job }, {})
    const stream = await openStream(url)
    expect(steps(metricsOf(await stream.nextEvent()).train)).toEqual([1, 2, 3, 4, 5])
    expect((await stream.nextEvent())?.event).toBe("job")
    expect((await stream.nextEvent())?.event).toBe("end")
    expect(await stream.next()).toBeUndefined()
  })

  it("sends a first metrics message with no points for a run that has none yet", async () => {
    const runDir = testDirectory("job-stream")
    const { url } = await serve({ runDir, job: async () => ({ status: "queued" }) }, { pollMs: 20 })
    const stream = await openStream(url)
    expect(metricsOf(await stream.nextEvent())).toEqual({ train: [], eval: [] })
  })

  it("keeps a new point's wait within the default poll interval", async () => {
    const { attempt, job, runDir } = makeRun()
    const { url } = await serve({ runDir, job: async () => job }, {})
    const stream = await openStream(url)
    await stream.nextEvent()
    await stream.nextEvent()
    const started = Date.now()
    appendFileSync(join(attempt, "metrics.jsonl"), metric(6))
    expect(steps(metricsOf(await stream.nextEvent()).train)).toEqual([6])
    expect(Date.now() - started).toBeLessThan(1_000)
  })

  it("sends a comment every heartbeat interval", async () => {
    const { job, runDir } = makeRun()
    const { url } = await serve({ runDir, job: async () => job }, { pollMs: 50, heartbeatMs: 100 })
    const stream = await openStream(url)
    const comments: Array<string> = []
    while (comments.length < 2) {
      const message = await stream.next()
      if (message !== undefined && "comment" in message) comments.push(message.comment)
    }
    expect(comments).toEqual(["keep-alive", "keep-alive"])
  })

  it("stops polling when the client disconnects", async () => {
    const { job, runDir } = makeRun()
    let reads = 0
    const { handled, url } = await serve({
      runDir,
      job: async () => {
        reads += 1
        return job
      }
    }, { pollMs: 20 })
    const stream = await openStream(url)
    await stream.nextEvent()
    await sleep(100)
    expect(reads).toBeGreaterThan(1)
    stream.close()
    await Promise.all(handled)
    const after = reads
    await sleep(200)
    expect(reads).toBe(after)
  })

  it("sends an error and ends when the job cannot be read", async () => {
    const { runDir } = makeRun()
    const { handled, url } = await serve({ runDir, job: () => Promise.reject(new Error("database is locked")) }, { pollMs: 20 })
    const stream = await openStream(url)
    expect(await stream.nextEvent()).toEqual({
      event: "error",
      data: JSON.stringify({ message: "cannot read the job: database is locked" })
    })
    expect(await stream.next()).toBeUndefined()
    await Promise.all(handled)
  })
})
