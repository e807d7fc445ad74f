/**
 * The live feed of one job (`GET /v1/sous/jobs/{id}/stream`): server-sent events that carry
 * the job's new training and evaluation points and each change of the job object, until the
 * job ends. The dashboard reads it with `fetch` (an `EventSource` cannot send the API key).
 */
import { once } from "node:events"
import type { IncomingMessage, ServerResponse } from "node:http"
import { finalStates } from "../../durable/run-store.js"
import { cachedRunPointsReader, type EvalPoint, type RunPointsReader, type TrainPoint } from "./run-metrics.js"

/** The job a stream follows: its durable run's directory, and how to read its job object. */
export interface JobStreamSource {
  readonly runDir: string
  /** The job's API object (an OpenAI `fine_tuning.job`, whose `status` ends the stream). */
  readonly job: () => Promise<unknown>
}

/** Settings of {@link streamJob}; the defaults suit the dashboard. */
export interface JobStreamOptions {
  /** How often the run's files and the job are read, in ms: the most a new point waits. Default 250. */
  readonly pollMs?: number
  /** How often a comment line keeps an idle connection open through proxies, in ms. Default 15,000. */
  readonly heartbeatMs?: number
  /** How the run's points are read (tests replace it). Default: a fresh `cachedRunPointsReader()`. */
  readonly readPoints?: RunPointsReader
}

/** The `data` of an `event: metrics` message: the points not sent before on this connection. */
export interface MetricsMessage {
  readonly train: ReadonlyArray<TrainPoint>
  readonly eval: ReadonlyArray<EvalPoint>
}


const statusOf = (job: unknown): unknown =>
  typeof job === "object" && job !== null ? (job as { readonly status?: unknown }).status : undefined

const message = (event: string, data: string) => `event: ${event}\ndata: ${data}\n\n`

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error))

/**
 * Answers `request` with a `text/event-stream` that follows a job:
 * - `event: metrics`, data `{train, eval}` ({@link MetricsMessage}): the first carries every
 *   point so far (possibly none), later ones only points past the last step sent;
 * - `event: job`, data the job object, at once and whenever its JSON changes;
 * - `event: end`, data `{status}`, once the job's status is final and the points read after
 *   it are sent; the response then ends;
 * - `event: error`, data `{message}`, when the job cannot be read; the response then ends
 *   (the client may connect again);
 * - a comment line every `heartbeatMs`.
 *
 * The run's files and the job are read every `pollMs`. A client that disconnects stops the
 * polling at once. Resolves when the response has ended, whichever side ended it.
 */
export const streamJob = async (
  request: IncomingMessage,
  response: ServerResponse,
  source: JobStreamSource,
  options: JobStreamOptions = {}
): Promise<void> => {
  const pollMs = options.pollMs ?? 250
  const heartbeatMs = options.heartbeatMs ?? 15_000
  const readPoints = options.readPoints ?? cachedRunPointsReader()
  const disconnected = new AbortController()
  // The response's `close` is the connection's end; the request's comes once its body is read.
  response.once("close", () => disconnected.abort())
  // Each message is small and should leave at once, not wait to be merged with the next.
  request.socket.setNoDelay(true)
  response.writeHead(200, {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    // Reverse proxies (nginx) buffer responses unless told not to.
    "X-Accel-Buffering": "no"
  })
  response.flushHeaders()

  const write = async (text: string) => {
    if (disconnected.signal.aborted) return
    if (!response.write(text)) await once(response, "drain", { signal: disconnected.signal }).catch(() => undefined)
  }
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer)
        disconnected.signal.removeEventListener("abort", done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      disconnected.signal.addEventListener("abort", done)
    })
  const heartbeat = setInterval(() => void write(": keep-alive\n\n"), heartbeatMs)

  let lastJob: string | undefined
  let sentTrain = -Infinity
  let sentEval = -Infinity
  let first = true
  try {
    while (!disconnected.signal.aborted) {
      let job: unknown
      try {
        job = await source.job()
      } catch (error) {
        await write(message("error", JSON.stringify({ message: `cannot read the job: ${errorText(error)}` })))
        break
      }
      // Read after the job: once the job is final, these points are the run's last.
      const points = await readPoints(source.runDir)
      const train = points.train.filter((point) => point.step > sentTrain)
      const evals = points.eval.filter((point) => point.step > sentEval)
      if (first || train.length > 0 || evals.length > 0) {
        first = false
        sentTrain = train.at(-1)?.step ?? sentTrain
        sentEval = evals.at(-1)?.step ?? sentEval
        await write(message("metrics", JSON.stringify({ train, eval: evals } satisfies MetricsMessage)))
      }
      const json = JSON.stringify(job)
      if (json !== lastJob) {
        lastJob = json
        await write(message("job", json))
      }
      const status = statusOf(job)
      // A job's status is its run's state, so the run's final states end the stream.
      if (typeof status === "string" && (finalStates as ReadonlyArray<string>).includes(status)) {
        await write(message("end", JSON.stringify({ status })))
        break
      }
      await pause(pollMs)
    }
  } catch (error) {
    // Reading the run failed (a permission, a disk error): say so rather than hang up silently.
    await write(message("error", JSON.stringify({ message: `cannot read the run: ${errorText(error)}` })))
  } finally {
    clearInterval(heartbeat)
    if (!response.writableEnded) response.end()
  }
}
