import OpenAI, { toFile } from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { arithmeticRows, shortJobBody, shortJobRows, startTestJobsServer, type TestJobsServer } from "../support/jobs-service.js"
import { suiteDirectory } from "../support/temp-directory.js"
import { waitFor } from "../support/wait-for.js"

// The official `openai` npm client, unchanged, against `sous jobs serve` (in process, with its
// own worker): upload, create, poll to the end, events, checkpoints, and a cancel.

const home = suiteDirectory("jobs-openai")
let server: TestJobsServer
let client: OpenAI

beforeAll(async () => {
  server = await startTestJobsServer(home)
  client = new OpenAI({ apiKey: server.keys["acme"]!, baseURL: `${server.url}/v1`, maxRetries: 0 })
})

afterAll(() => server.close())

const upload = async () =>
  client.files.create({ file: await toFile(Buffer.from(arithmeticRows(shortJobRows)), "train.jsonl"), purpose: "fine-tune" })

/** The job's held-out loss at step 0, from its events. */
const evalBeforeTraining = async (jobId: string): Promise<number> => {
  for await (const event of client.fineTuning.jobs.listEvents(jobId, { limit: 100 })) {
    const data = event.data as { step?: number; valid_loss?: number }
    if (data.step === 0 && data.valid_loss !== undefined) return data.valid_loss
  }
  throw new Error(`${jobId} has no evaluation at step 0`)
}

describe("the openai client against sous jobs serve", () => {
  it("uploads a file, runs a supervised job to succeeded, and lists its events and checkpoints", async () => {
    const file = await upload()
    expect(file).toMatchObject({ object: "file", purpose: "fine-tune", filename: "train.jsonl", status: "processed" })
    expect(await client.files.retrieve(file.id)).toMatchObject({ id: file.id, bytes: file.bytes })

    // 2 epochs of 5 steps, a checkpoint after each.
    const created = await client.fineTuning.jobs.create(shortJobBody(file.id, 2) as OpenAI.FineTuning.JobCreateParams)
    expect(created).toMatchObject({ object: "fine_tuning.job", model: "sous/micro-transformer", training_file: file.id, fine_tuned_model: null })
    expect(["queued", "running"]).toContain(created.status)
    expect(created.hyperparameters).toEqual({ batch_size: 8, learning_rate_multiplier: 1, n_epochs: 2 })

    const done = await waitFor("the job to end", 150_000, async () => {
      const job = await client.fineTuning.jobs.retrieve(created.id)
      return ["succeeded", "failed", "cancelled"].includes(job.status) ? job : undefined
    }, 500)
    expect(done.status, JSON.stringify(done.error)).toBe("succeeded")
    expect(done.fine_tuned_model).toBe(`ft:sous/micro-transformer:acme:test:${created.id}`)
    expect(done.trained_tokens).toBeGreaterThan(0)
    expect(done.finished_at).toBeGreaterThanOrEqual(done.created_at)

    const listed = await client.fineTuning.jobs.list({ limit: 10 })
    expect(listed.data.map((job) => job.id)).toContain(created.id)

    // Events, newest first, paged by the client with `after`.
    const events: Array<OpenAI.FineTuning.FineTuningJobEvent> = []
    for await (const event of client.fineTuning.jobs.listEvents(created.id, { limit: 5 })) events.push(event)
    const steps = events.filter((event) => event.type === "metrics" && (event.data as { train_loss?: number }).train_loss !== undefined)
    expect(steps.map((event) => (event.data as { step: number }).step).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1))
    expect(new Set(events.map((event) => event.id)).size).toBe(events.length)
    expect(events.some((event) => event.type === "message" && event.message.includes("succeeded"))).toBe(true)
    // The submission's line names no server path.
    expect(events.at(-1)).toMatchObject({ type: "message", message: "job submitted" })
    expect(events.every((event) => event.created_at >= created.created_at)).toBe(true)
    expect(events.map((event) => event.created_at)).toEqual([...events.map((event) => event.created_at)].sort((a, b) => b - a))

    const checkpoints = await client.fineTuning.jobs.checkpoints.list(created.id)
    expect(checkpoints.data.map((checkpoint) => checkpoint.step_number)).toEqual([10, 5])
    expect(checkpoints.data[0]).toMatchObject({
      object: "fine_tuning.job.checkpoint",
      id: `ftckpt-${created.id}-final`,
      fine_tuning_job_id: created.id,
      fine_tuned_model_checkpoint: `${done.fine_tuned_model}:ckpt-step-10`
    })
    expect(checkpoints.data[0]!.metrics.train_loss).toBeGreaterThan(0)

    // A fine-tuned model is a model: a job from it starts from the first job's final weights,
    // so its evaluation before any step is the first job's after training, not a fresh model's.
    const next = await client.fineTuning.jobs.create({ ...shortJobBody(file.id, 1), model: done.fine_tuned_model! } as OpenAI.FineTuning.JobCreateParams)
    const nextDone = await waitFor("the second job to end", 150_000, async () => {
      const job = await client.fineTuning.jobs.retrieve(next.id)
      return ["succeeded", "failed", "cancelled"].includes(job.status) ? job : undefined
    }, 500)
    expect(nextDone.status, JSON.stringify(nextDone.error)).toBe("succeeded")
    expect(nextDone.fine_tuned_model).toBe(`ft:sous/micro-transformer:acme:test:${next.id}`)
    const before = await evalBeforeTraining(created.id)
    expect(await evalBeforeTraining(next.id)).toBeLessThan(before - 0.5)
  }, 300_000)

  it("cancels a job", async () => {
    const file = await upload()
    const created = await client.fineTuning.jobs.create(shortJobBody(file.id, 20) as OpenAI.FineTuning.JobCreateParams)
    await client.fineTuning.jobs.cancel(created.id)
    const cancelled = await waitFor("the job to be cancelled", 60_000, async () => {
      const job = await client.fineTuning.jobs.retrieve(created.id)
      return job.status === "cancelled" ? job : undefined
    }, 250)
    expect(cancelled.fine_tuned_model).toBeNull()
    // A cancelled job is final: cancelling again is refused in the OpenAI error shape.
    await expect(client.fineTuning.jobs.cancel(created.id)).rejects.toBeInstanceOf(OpenAI.BadRequestError)
  }, 90_000)
})
