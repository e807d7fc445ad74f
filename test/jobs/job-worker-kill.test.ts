import { spawn } from "node:child_process"
import { join } from "node:path"
import { Effect } from "effect"
import OpenAI, { toFile } from "openai"
import { describe, expect, it } from "vitest"
import { runStatus } from "../../src/durable/runs.js"
import { root } from "../cli/run-cli.js"
import { arithmeticRows, shortJobBody, shortJobRows, startTestJobsServer } from "../support/jobs-service.js"
import { exited, signal, workerProcesses } from "../support/processes.js"
import { testDirectory } from "../support/temp-directory.js"
import { waitFor } from "../support/wait-for.js"

// A job is a durable run: the server trains nothing itself here (`worker: false`); `sous
// worker` processes on its database do, and SIGKILLing the one training the job (and its
// segment process, as a dead machine takes both) does not end the job: the next worker takes
// it over from its last checkpoint and it succeeds, every step counted once.

describe("a job whose worker dies", () => {
  it("still ends succeeded, each step's metrics once", async () => {
    const home = testDirectory("jobs-kill")
    const server = await startTestJobsServer(home, { worker: false })
    const { workers, segmentPids } = workerProcesses()
    const startWorker = () => {
      const child = spawn(process.execPath, [join(root, "bin/sous"), "worker", "--db", server.db], { cwd: root, stdio: ["ignore", "pipe", "pipe"] })
      let text = ""
      child.stdout.on("data", (chunk) => (text += String(chunk)))
      child.stderr.on("data", (chunk) => (text += String(chunk)))
      workers.push({ child, output: () => text })
      return child
    }
    try {
      const client = new OpenAI({ apiKey: server.keys["acme"]!, baseURL: `${server.url}/v1`, maxRetries: 0 })
      const file = await client.files.create({ file: await toFile(Buffer.from(arithmeticRows(shortJobRows)), "train.jsonl"), purpose: "fine-tune" })
      // 40 epochs of 5 steps, a checkpoint after each: long enough that the kill lands mid-job.
      // (20 epochs took about 3 s once the local kernels got faster, and a loaded CI machine
      // polled past the whole window once.)
      const job = await client.fineTuning.jobs.create(shortJobBody(file.id, 40) as OpenAI.FineTuning.JobCreateParams)
      const runId = (job as unknown as { sous: { run_id: string } }).sous.run_id
      const first = startWorker()
      // One read of the run's row gives both: past its first checkpoint, and the process training it.
      const running = await waitFor("the job to pass its first checkpoint", 60_000, async () => {
        const row = await Effect.runPromise(runStatus(runId, { db: server.db }))
        return row.state === "running" && row.step >= 7 && row.segment_pid !== null ? row : undefined
      }, 50)
      expect(running.step).toBeLessThan(200)
      const segments = running.segment_pid!
      segmentPids.add(segments)
      first.kill("SIGKILL")
      signal(segments, "SIGKILL")
      await exited(first)

      startWorker()
      const done = await waitFor("the job to end", 120_000, async () => {
        const now = await client.fineTuning.jobs.retrieve(job.id)
        return ["succeeded", "failed", "cancelled"].includes(now.status) ? now : undefined
      }, 250)
      expect(done.status, JSON.stringify(done.error)).toBe("succeeded")

      const events: Array<OpenAI.FineTuning.FineTuningJobEvent> = []
      for await (const event of client.fineTuning.jobs.listEvents(job.id, { limit: 100 })) events.push(event)
      const steps = events.flatMap((event) => {
        const data = event.data as { step?: number; train_loss?: number }
        return event.type === "metrics" && data.train_loss !== undefined ? [data.step!] : []
      })
      expect(steps.sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
      const checkpoints = await client.fineTuning.jobs.checkpoints.list(job.id, { limit: 50 })
      expect(checkpoints.data.map((checkpoint) => checkpoint.step_number)).toEqual(Array.from({ length: 40 }, (_, i) => 200 - 5 * i))
    } finally {
      await server.close()
    }
  }, 240_000)
})
