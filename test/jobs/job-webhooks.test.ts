import * as http from "node:http"
import type { AddressInfo } from "node:net"
import OpenAI, { toFile } from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { newWebhookSecret, verifyWebhook } from "../../src/jobs/webhooks/index.js"
import { arithmeticRows, shortJobBody, shortJobRows, startTestJobsServer, type TestJobsServer } from "../support/jobs-service.js"
import { suiteDirectory } from "../support/temp-directory.js"
import { waitFor } from "../support/wait-for.js"

// Webhooks end to end: the job service with its own worker, tenant acme's webhook pointing
// at a real HTTP receiver here. A job that ends sends one signed `fine_tuning.job.<status>`
// event; a failing receiver gets it again (same webhook-id) until it answers 2xx; one that
// never does puts it on the dead-letter list, whence acme (and only acme) can replay it.

/** One request the receiver got, and what it answered. */
interface Received {
  readonly headers: http.IncomingHttpHeaders
  readonly body: string
  readonly status: number
}

/** A webhook receiver whose answer (`respond`, given the request's number from 0) tests change. */
const startReceiver = async () => {
  const received: Array<Received> = []
  let respond: (index: number) => number = () => 200
  const server = http.createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      const status = respond(received.length)
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString("utf8"), status })
      response.writeHead(status, { "content-type": "text/plain" }).end(status === 200 ? "ok" : "no")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    received,
    /** Sets how the next requests are answered; `index` counts from the first request after this call. */
    answer: (how: (index: number) => number) => {
      const from = received.length
      respond = (index) => how(index - from)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
  }
}

interface EventPayload {
  readonly object: string
  readonly id: string
  readonly type: string
  readonly created_at: number
  readonly data: { readonly id: string }
}

interface WebhookEventObject {
  readonly id: string
  readonly type: string
  readonly subject: string
  readonly status: string
  readonly attempts: number
  readonly last_error: string | null
  readonly payload: EventPayload
}

const home = suiteDirectory("jobs-webhooks")
const secret = newWebhookSecret()
let receiver: Awaited<ReturnType<typeof startReceiver>>
let server: TestJobsServer
let client: OpenAI

beforeAll(async () => {
  receiver = await startReceiver()
  server = await startTestJobsServer(home, {
    webhook: { url: receiver.url, secret },
    webhooks: { retry: { attempts: 3, initialDelayMs: 100 }, pollEvery: "50 millis" },
    watchEvery: "100 millis"
  })
  client = new OpenAI({ apiKey: server.keys["acme"]!, baseURL: `${server.url}/v1`, maxRetries: 0 })
})

afterAll(async () => {
  await server?.close()
  await receiver?.close()
})

const payloadOf = (request: Received) => JSON.parse(request.body) as EventPayload
const aboutJob = (jobId: string) => (request: Received) => payloadOf(request).data.id === jobId
const webhookId = (request: Received) => String(request.headers["webhook-id"])

const upload = async () =>
  client.files.create({ file: await toFile(Buffer.from(arithmeticRows(shortJobRows)), "train.jsonl"), purpose: "fine-tune" })

const createJob = (fileId: string, epochs: number) =>
  client.fineTuning.jobs.create(shortJobBody(fileId, epochs) as OpenAI.FineTuning.JobCreateParams)

/** A job that ends `cancelled` quickly: cancelled as soon as it is created. */
const cancelledJob = async (fileId: string) => {
  const job = await createJob(fileId, 20)
  await client.fineTuning.jobs.cancel(job.id)
  return job
}

/** Resolves once the receiver has acknowledged (answered 2xx) an event about each job. */
const acknowledged = (what: string, jobIds: ReadonlyArray<string>, timeoutMs: number) =>
  waitFor(what, timeoutMs, async () => {
    const acks = receiver.received.filter((request) => request.status === 200)
    return jobIds.every((jobId) => acks.some(aboutJob(jobId))) ? acks : undefined
  }, 50)

const webhookEvents = async (tenant: string, status?: string): Promise<Array<WebhookEventObject>> => {
  const response = await fetch(`${server.url}/v1/sous/webhook_events${status === undefined ? "" : `?status=${status}`}`, {
    headers: { authorization: `Bearer ${server.keys[tenant]!}` }
  })
  expect(response.status).toBe(200)
  return ((await response.json()) as { data: Array<WebhookEventObject> }).data
}

const replay = (tenant: string, id: string) =>
  fetch(`${server.url}/v1/sous/webhook_events/${id}/replay`, { method: "POST", headers: { authorization: `Bearer ${server.keys[tenant]!}` } })

/** Gives the watcher and dispatcher time to (wrongly) send more than they should. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 600))

describe("job webhooks", () => {
  it("sends one signed fine_tuning.job.succeeded event when a job succeeds", async () => {
    receiver.answer(() => 200)
    const file = await upload()
    const job = await createJob(file.id, 1)
    await acknowledged("the succeeded event", [job.id], 60_000)
    await settle()

    const requests = receiver.received.filter(aboutJob(job.id))
    expect(requests).toHaveLength(1)
    const [request] = requests
    const payload = payloadOf(request!)
    expect(payload).toMatchObject({ object: "event", type: "fine_tuning.job.succeeded", data: { id: job.id } })
    expect(payload.id).toMatch(/^evt_/)
    expect(webhookId(request!)).toBe(payload.id)
    expect(request!.headers["content-type"]).toBe("application/json")
    expect(verifyWebhook(secret, request!.headers, request!.body)).toBe(true)
    // Signed with this secret and no other, over these exact bytes.
    expect(verifyWebhook(newWebhookSecret(), request!.headers, request!.body)).toBe(false)
    expect(verifyWebhook(secret, request!.headers, request!.body.replace(job.id, "ftjob-other"))).toBe(false)

    expect((await client.fineTuning.jobs.retrieve(job.id)).status).toBe("succeeded")
    const listed = (await webhookEvents("acme")).filter((event) => event.subject === job.id)
    expect(listed).toMatchObject([{ id: payload.id, type: "fine_tuning.job.succeeded", status: "delivered", attempts: 1 }])
  }, 90_000)

  it("retries through a receiver's failures, acknowledging each event exactly once", async () => {
    const file = await upload()
    // The first two requests after this fail; every later one succeeds.
    const from = receiver.received.length
    receiver.answer((index) => (index < 2 ? 500 : 200))
    const succeeding = await createJob(file.id, 1)
    const cancelled = await cancelledJob(file.id)
    await acknowledged("both events", [succeeding.id, cancelled.id], 60_000)
    await settle()

    const requests = receiver.received.slice(from)
    expect(requests.filter((request) => request.status === 500)).toHaveLength(2)
    const acks = requests.filter((request) => request.status === 200)
    const ackedIds = acks.map(webhookId)
    expect(new Set(ackedIds).size).toBe(ackedIds.length)
    expect(acks.map((request) => payloadOf(request).type).sort()).toEqual(["fine_tuning.job.cancelled", "fine_tuning.job.succeeded"])
    expect(acks.filter(aboutJob(succeeding.id)).map((request) => payloadOf(request).type)).toEqual(["fine_tuning.job.succeeded"])
    expect(acks.filter(aboutJob(cancelled.id)).map((request) => payloadOf(request).type)).toEqual(["fine_tuning.job.cancelled"])
    // Every try of an event is the same event: same id, same signed bytes.
    for (const request of requests) {
      expect(verifyWebhook(secret, request.headers, request.body)).toBe(true)
      expect(webhookId(request)).toBe(payloadOf(request).id)
      expect(ackedIds).toContain(webhookId(request))
    }

    const events = await webhookEvents("acme")
    for (const jobId of [succeeding.id, cancelled.id]) {
      const [event] = events.filter((listed) => listed.subject === jobId)
      expect(event?.status).toBe("delivered")
      expect(event?.attempts).toBe(requests.filter(aboutJob(jobId)).length)
    }
  }, 90_000)

  it("dead-letters an event a receiver never takes, lists it for its tenant only, and replays it", async () => {
    const file = await upload()
    const from = receiver.received.length
    receiver.answer(() => 503)
    const job = await cancelledJob(file.id)

    const dead = await waitFor("the event to go dead", 30_000, async () => {
      const found = (await webhookEvents("acme", "dead")).find((event) => event.subject === job.id)
      return found
    }, 100)
    expect(dead).toMatchObject({ type: "fine_tuning.job.cancelled", status: "dead", attempts: 3 })
    expect(dead.last_error).toContain("503")
    expect(dead.payload).toMatchObject({ id: dead.id, type: "fine_tuning.job.cancelled", data: { id: job.id } })
    expect(receiver.received.slice(from).filter(aboutJob(job.id)).map(webhookId)).toEqual([dead.id, dead.id, dead.id])
    // The list's other filters agree.
    expect((await webhookEvents("acme", "pending")).map((event) => event.id)).not.toContain(dead.id)
    expect((await webhookEvents("acme")).map((event) => event.id)).toContain(dead.id)

    // globex sees no event of acme's, and cannot replay one.
    expect(await webhookEvents("globex", "dead")).toEqual([])
    expect(await webhookEvents("globex")).toEqual([])
    const refused = await replay("globex", dead.id)
    expect(refused.status).toBe(404)
    expect(await refused.json()).toMatchObject({ error: { type: "not_found_error", code: "not_found" } })
    const badStatus = await fetch(`${server.url}/v1/sous/webhook_events?status=lost`, { headers: { authorization: `Bearer ${server.keys["acme"]!}` } })
    expect(badStatus.status).toBe(400)
    expect((await webhookEvents("acme", "dead")).map((event) => event.id)).toContain(dead.id)

    // The receiver is fixed; acme replays the event and it arrives with the same id.
    const before = receiver.received.length
    receiver.answer(() => 200)
    const replayed = await replay("acme", dead.id)
    expect(replayed.status).toBe(200)
    expect(await replayed.json()).toEqual({ id: dead.id, replayed: true })
    await acknowledged("the replayed event", [job.id], 10_000)
    await settle()
    const delivered = receiver.received.slice(before)
    expect(delivered).toHaveLength(1)
    expect(webhookId(delivered[0]!)).toBe(dead.id)
    expect(delivered[0]!.body).toBe(receiver.received.slice(from).find(aboutJob(job.id))!.body)
    expect(verifyWebhook(secret, delivered[0]!.headers, delivered[0]!.body)).toBe(true)

    const after = (await webhookEvents("acme")).find((event) => event.id === dead.id)
    expect(after).toMatchObject({ status: "delivered", attempts: 1 })
    // Delivered now, so neither tenant can replay it again.
    expect((await replay("acme", dead.id)).status).toBe(404)
    expect((await replay("globex", dead.id)).status).toBe(404)
  }, 60_000)
})
