import { randomUUID } from "node:crypto"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, type Scope } from "effect"

/**
 * A local stand-in for an MLflow tracking server: the REST API 2.0 calls sous makes
 * (`experiments/get-by-name`, `experiments/create`, `runs/create`, `runs/log-batch`,
 * `runs/update`), kept in memory. It refuses what MLflow refuses, with MLflow's status and
 * error JSON (`{"error_code":"INVALID_PARAMETER_VALUE","message":...}`), following
 * mlflow/utils/validation.py: batches over 1,000 metrics, 100 params, 100 tags or 1,000 in
 * all; names outside MLflow's character set or that a path normalization would change (the
 * set before MLflow 2.11 added `:`, which servers on Windows still refuse); keys over 250
 * characters, param values over 6,000; missing fields and values of the wrong type; a param
 * logged again with another value; an unknown run or experiment.
 */

/** A run as the stand-in holds it. */
export interface StandInRun {
  readonly runId: string
  readonly experimentId: string
  readonly name: string
  readonly startTime: number
  readonly tags: Record<string, string>
  readonly params: Record<string, string>
  /** Every metric logged, in the order it came. */
  readonly metrics: Array<{ readonly key: string; readonly value: number | string; readonly timestamp: number; readonly step: number }>
  status: string
  endTime?: number
}

/** One request as it arrived. */
export interface StandInRequest {
  readonly method: string
  readonly endpoint: string
  readonly body: unknown
  readonly authorization: string | undefined
}

/** A running stand-in MLflow server. */
export interface MlflowServer {
  /** Base URL, `http://127.0.0.1:<port>`: a tracker's `uri`. */
  readonly url: string
  /** Experiments by name, with their ids. */
  readonly experiments: () => ReadonlyMap<string, string>
  readonly runs: () => ReadonlyArray<StandInRun>
  readonly requests: () => ReadonlyArray<StandInRequest>
}

/** Settings of the stand-in. */
export interface MlflowServerOptions {
  /** When set, every request must carry `Authorization: Bearer <token>`; others get 401. */
  readonly token?: string
}

class MlflowFailure extends Error {
  constructor(readonly status: number, readonly errorCode: string, message: string) {
    super(message)
  }
}

const invalid = (message: string) => new MlflowFailure(400, "INVALID_PARAMETER_VALUE", message)

const namePattern = /^[/\w.\- ]*$/
const pathNotUnique = (name: string): boolean => {
  // posixpath.normpath, for the names MLflow could be given.
  const parts: Array<string> = []
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue
    if (part === ".." && parts.length > 0 && parts.at(-1) !== "..") parts.pop()
    else parts.push(part)
  }
  const norm = (name.startsWith("/") ? "/" : "") + parts.join("/") || "."
  return norm !== name || norm === "." || norm.startsWith("..") || norm.startsWith("/")
}

const checkName = (kind: string, name: unknown, field: string): string => {
  if (typeof name !== "string") throw invalid(`Missing value for required parameter '${field}'`)
  if (!namePattern.test(name)) {
    throw invalid(`Invalid value "${name}" for parameter '${field}' supplied: Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), and slashes (/).`)
  }
  if (pathNotUnique(name)) throw invalid(`Invalid ${kind} name: '${name}'. Names may be treated as files in certain cases, and must not resolve to other names when treated as such.`)
  if (name.length > 250) throw invalid(`${kind} name '${name.slice(0, 250)}' had length ${name.length}, which exceeded length limit of 250`)
  return name
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value)

const requireString = (body: Record<string, unknown>, field: string): string => {
  const value = body[field]
  if (value === undefined) throw invalid(`Missing value for required parameter '${field}'`)
  if (typeof value !== "string") throw invalid(`Invalid value ${JSON.stringify(value)} for parameter '${field}' supplied: expected a string`)
  return value
}

// Protobuf's JSON mapping: an int64 may come as a number or a decimal string.
const optionalInteger = (body: Record<string, unknown>, field: string): number | undefined => {
  const value = body[field]
  if (value === undefined) return undefined
  const number = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value
  if (typeof number !== "number" || !Number.isInteger(number)) throw invalid(`Invalid value ${JSON.stringify(value)} for parameter '${field}' supplied: expected an integer`)
  return number
}

const isDouble = (value: unknown): boolean =>
  typeof value === "number" || value === "NaN" || value === "Infinity" || value === "-Infinity"

const list = (body: Record<string, unknown>, field: string): Array<Record<string, unknown>> => {
  const value = body[field] ?? []
  if (!Array.isArray(value) || !value.every(isRecord)) throw invalid(`Invalid value for parameter '${field}' supplied: expected a list of objects`)
  return value
}

const batchLimit = (what: string, limit: number, length: number) => {
  if (length > limit) {
    throw invalid(`A batch logging request can contain at most ${limit} ${what}. Got ${length} ${what}. Please split up ${what} across multiple requests and try again.`)
  }
}

/** Starts the stand-in on 127.0.0.1, a free port; it stops when the scope closes. */
export const mlflowServer = (options: MlflowServerOptions = {}): Effect.Effect<MlflowServer, never, Scope.Scope> => {
  const experiments = new Map<string, string>()
  const runs = new Map<string, StandInRun>()
  const requests: Array<StandInRequest> = []

  const findRun = (body: Record<string, unknown>): StandInRun => {
    const runId = requireString(body, "run_id")
    const run = runs.get(runId)
    if (run === undefined) throw new MlflowFailure(404, "RESOURCE_DOES_NOT_EXIST", `Run '${runId}' not found`)
    return run
  }

  const logBatch = (body: Record<string, unknown>) => {
    const run = findRun(body)
    const [metrics, params, tags] = [list(body, "metrics"), list(body, "params"), list(body, "tags")]
    batchLimit("metrics", 1000, metrics.length)
    batchLimit("params", 100, params.length)
    batchLimit("tags", 100, tags.length)
    batchLimit("metrics, params, and tags", 1000, metrics.length + params.length + tags.length)
    const checked = metrics.map((metric, index) => {
      const key = checkName("metric", metric["key"], `metrics[${index}].key`)
      if (!isDouble(metric["value"])) throw invalid(`Got invalid value ${JSON.stringify(metric["value"])} for metric '${key}'. Please specify value as a valid double (64-bit floating point)`)
      const timestamp = optionalInteger(metric, "timestamp")
      if (timestamp === undefined || timestamp < 0) throw invalid(`Got invalid timestamp ${JSON.stringify(metric["timestamp"])} for metric '${key}'. Timestamp must be a nonnegative long (64-bit integer)`)
      return { key, value: metric["value"] as number | string, timestamp, step: optionalInteger(metric, "step") ?? 0 }
    })
    const keys = new Set<string>()
    const newParams = params.map((param, index) => {
      const key = checkName("param", param["key"], `params[${index}].key`)
      const value = requireString(param, "value")
      if (value.length > 6000) throw invalid(`Param value '${value.slice(0, 250)}' had length ${value.length}, which exceeded length limit of 6000`)
      if (keys.has(key)) throw invalid(`Duplicate parameter keys have been submitted: ['${key}']`)
      keys.add(key)
      const logged = run.params[key]
      if (logged !== undefined && logged !== value) {
        throw invalid(`Changing param values is not allowed. Param with key='${key}' was already logged with value='${logged}' for run ID='${run.runId}'. Attempted logging new value '${value}'.`)
      }
      return [key, value] as const
    })
    const newTags = tags.map((tag, index) => [checkName("tag", tag["key"], `tags[${index}].key`), requireString(tag, "value")] as const)
    run.metrics.push(...checked)
    for (const [key, value] of newParams) run.params[key] = value
    for (const [key, value] of newTags) run.tags[key] = value
    return {}
  }

  const handle = (method: string, endpoint: string, query: URLSearchParams, body: Record<string, unknown>): unknown => {
    if (method === "GET" && endpoint === "experiments/get-by-name") {
      const name = query.get("experiment_name")
      if (name === null) throw invalid("Missing value for required parameter 'experiment_name'")
      const id = experiments.get(name)
      if (id === undefined) throw new MlflowFailure(404, "RESOURCE_DOES_NOT_EXIST", `Could not find experiment with name '${name}'`)
      return { experiment: { experiment_id: id, name, lifecycle_stage: "active" } }
    }
    if (method !== "POST") throw new MlflowFailure(404, "ENDPOINT_NOT_FOUND", `No endpoint ${method} ${endpoint}`)
    switch (endpoint) {
      case "experiments/create": {
        const name = requireString(body, "name")
        if (name === "") throw invalid("Invalid experiment name: ''")
        if (experiments.has(name)) throw new MlflowFailure(400, "RESOURCE_ALREADY_EXISTS", `Experiment '${name}' already exists.`)
        const id = String(experiments.size + 1)
        experiments.set(name, id)
        return { experiment_id: id }
      }
      case "runs/create": {
        const experimentId = requireString(body, "experiment_id")
        if (![...experiments.values()].includes(experimentId)) throw new MlflowFailure(404, "RESOURCE_DOES_NOT_EXIST", `No Experiment with id=${experimentId} exists`)
        const tags = Object.fromEntries(list(body, "tags").map((tag, index) => [checkName("tag", tag["key"], `tags[${index}].key`), requireString(tag, "value")]))
        const runId = randomUUID().replaceAll("-", "")
        const run: StandInRun = {
          runId,
          experimentId,
          name: typeof body["run_name"] === "string" ? body["run_name"] : "",
          startTime: optionalInteger(body, "start_time") ?? Date.now(),
          tags,
          params: {},
          metrics: [],
          status: "RUNNING"
        }
        runs.set(runId, run)
        return { run: { info: { run_id: runId, run_uuid: runId, experiment_id: experimentId, run_name: run.name, status: run.status, start_time: run.startTime, lifecycle_stage: "active" }, data: { tags: list(body, "tags") } } }
      }
      case "runs/log-batch":
        return logBatch(body)
      case "runs/update": {
        const run = findRun(body)
        const status = body["status"]
        if (status !== undefined) {
          if (typeof status !== "string" || !["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"].includes(status)) {
            throw invalid(`Invalid value ${JSON.stringify(status)} for parameter 'status' supplied`)
          }
          run.status = status
        }
        const endTime = optionalInteger(body, "end_time")
        if (endTime !== undefined) run.endTime = endTime
        return { run_info: { run_id: run.runId, status: run.status, end_time: run.endTime } }
      }
    }
    throw new MlflowFailure(404, "ENDPOINT_NOT_FOUND", `No endpoint ${method} ${endpoint}`)
  }

  const route = async (request: http.IncomingMessage): Promise<unknown> => {
    const url = new URL(request.url ?? "/", "http://127.0.0.1")
    const prefix = "/api/2.0/mlflow/"
    if (!url.pathname.startsWith(prefix)) throw new MlflowFailure(404, "ENDPOINT_NOT_FOUND", `No endpoint ${url.pathname}`)
    const endpoint = url.pathname.slice(prefix.length)
    const chunks: Array<Buffer> = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const text = Buffer.concat(chunks).toString("utf8")
    let body: unknown = {}
    if (text !== "") {
      try {
        body = JSON.parse(text)
      } catch {
        throw new MlflowFailure(400, "MALFORMED_REQUEST", "Malformed request body: not JSON")
      }
    }
    requests.push({ method: request.method ?? "GET", endpoint, body, authorization: request.headers.authorization })
    if (options.token !== undefined && request.headers.authorization !== `Bearer ${options.token}`) {
      throw new MlflowFailure(401, "UNAUTHENTICATED", "You are not authenticated.")
    }
    if (!isRecord(body)) throw new MlflowFailure(400, "MALFORMED_REQUEST", "The request body must be a JSON object")
    return handle(request.method ?? "GET", endpoint, url.searchParams, body)
  }

  return Effect.acquireRelease(
    Effect.callback<http.Server>((resume) => {
      const server = http.createServer((request, response) => {
        route(request).then(
          (reply) => ({ status: 200, body: reply }),
          (error: unknown) => {
            const failure = error instanceof MlflowFailure ? error : new MlflowFailure(500, "INTERNAL_ERROR", String(error))
            return { status: failure.status, body: { error_code: failure.errorCode, message: failure.message } }
          }
        ).then(({ body, status }) => {
          response.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body))
        })
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) =>
      Effect.callback<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((server): MlflowServer => ({
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    experiments: () => new Map(experiments),
    runs: () => [...runs.values()],
    requests: () => [...requests]
  })))
}
