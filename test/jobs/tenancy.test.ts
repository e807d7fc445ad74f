import { readFileSync } from "node:fs"
import { join } from "node:path"
import OpenAI, { toFile } from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { arithmeticRows, shortJobBody, shortJobRows, startTestJobsServer, type TestJobsServer } from "../support/jobs-service.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"

// The job service's walls and refusals, with no training: the server runs without a worker,
// so every job stays queued. One tenant never sees or touches another's files and jobs (a
// 404 whether the thing exists or not), every refusal is in OpenAI's error shape, and the
// request checks (keys, sizes, bodies, uploads, models, methods) answer the status a client
// expects. Also: a DPO job from OpenAI's preference format, paging, pause, resume and cancel.

const home = suiteDirectory("jobs-tenancy")
let server: TestJobsServer
let acme: OpenAI
let globex: OpenAI

const limits = { worker: false, maxJsonBytes: 4096, maxFileBytes: 64 * 1024 } as const

const clientOf = (url: string, apiKey: string) => new OpenAI({ apiKey, baseURL: `${url}/v1`, maxRetries: 0 })

beforeAll(async () => {
  server = await startTestJobsServer(home, limits)
  acme = clientOf(server.url, server.keys["acme"]!)
  globex = clientOf(server.url, server.keys["globex"]!)
})

afterAll(() => server?.close())

const jsonlFile = (text: string, name = "train.jsonl") => toFile(Buffer.from(text), name)

const upload = async (client: OpenAI, text = arithmeticRows(shortJobRows)) =>
  client.files.create({ file: await jsonlFile(text), purpose: "fine-tune" })

const createShortJob = (client: OpenAI, fileId: string) =>
  client.fineTuning.jobs.create(shortJobBody(fileId, 1) as OpenAI.FineTuning.JobCreateParams)

/** A raw request to the server as `tenant` (no key when `undefined`). */
const call = (path: string, init: RequestInit & { readonly tenant?: string | undefined } = {}) => {
  const { tenant, ...rest } = init
  const headers = new Headers(rest.headers)
  if (tenant !== undefined) headers.set("authorization", `Bearer ${server.keys[tenant]!}`)
  return fetch(`${server.url}${path}`, { ...rest, headers })
}

/** Asserts the response is a refusal with `status` in OpenAI's error shape; resolves with the error object. */
const expectError = async (response: Response, status: number) => {
  const text = await response.text()
  expect(response.status, text).toBe(status)
  expect(response.headers.get("content-type")).toMatch(/^application\/json/)
  const body = JSON.parse(text) as { error: { message: string; type: string; param: string | null; code: string | null } }
  expect(Object.keys(body)).toEqual(["error"])
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"])
  expect(typeof body.error.message).toBe("string")
  expect(body.error.message.length).toBeGreaterThan(0)
  expect(typeof body.error.type).toBe("string")
  expect(body.error.param === null || typeof body.error.param === "string").toBe(true)
  expect(body.error.code === null || typeof body.error.code === "string").toBe(true)
  return body.error
}

/** The refusal an openai client call rejects with, checked to be of `kind`. */
const refusal = async <E extends InstanceType<typeof OpenAI.APIError>>(promise: Promise<unknown>, kind: abstract new(...args: never[]) => E): Promise<E> => {
  const error = await promise.then(() => undefined, (error: unknown) => error)
  expect(error, "the call was expected to be refused").toBeInstanceOf(kind)
  return error as E
}

const jsonPost = (path: string, body: unknown, tenant = "acme") =>
  call(path, { method: "POST", tenant, headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

describe("tenancy", () => {
  it("keeps one tenant's files and jobs from another: 404, never a change", async () => {
    const file = await upload(acme)
    const job = await createShortJob(acme, file.id)
    expect(job.status).toBe("queued")
    const globexFile = await upload(globex)
    const globexJob = await createShortJob(globex, globexFile.id)

    // Every job route answers globex as if acme's job did not exist.
    const jobPaths: Array<readonly [string, string]> = [
      ["GET", `/v1/fine_tuning/jobs/${job.id}`],
      ["GET", `/v1/fine_tuning/jobs/${job.id}/events`],
      ["GET", `/v1/fine_tuning/jobs/${job.id}/checkpoints`],
      ["POST", `/v1/fine_tuning/jobs/${job.id}/cancel`],
      ["POST", `/v1/fine_tuning/jobs/${job.id}/pause`],
      ["POST", `/v1/fine_tuning/jobs/${job.id}/resume`],
      ["GET", `/v1/sous/jobs/${job.id}/stream`],
      ["GET", `/v1/files/${file.id}`],
      ["GET", `/v1/files/${file.id}/content`]
    ]
    for (const [method, path] of jobPaths) {
      const error = await expectError(await call(path, { method, tenant: "globex" }), 404)
      expect(error.type, `${method} ${path}`).toBe("not_found_error")
      // The same answer as for an id that exists nowhere: nothing tells globex acme's exists.
      const missing = await expectError(await call(path.replace(/(ftjob|file)-[^/]+/, "$1-doesnotexist"), { method, tenant: "globex" }), 404)
      expect(missing.code).toBe(error.code)
    }

    // The same through the official client, which raises its NotFoundError for each.
    await refusal(globex.fineTuning.jobs.retrieve(job.id), OpenAI.NotFoundError)
    await refusal(globex.fineTuning.jobs.listEvents(job.id), OpenAI.NotFoundError)
    await refusal(globex.fineTuning.jobs.checkpoints.list(job.id), OpenAI.NotFoundError)
    await refusal(globex.fineTuning.jobs.cancel(job.id), OpenAI.NotFoundError)
    await refusal(globex.fineTuning.jobs.pause(job.id), OpenAI.NotFoundError)
    await refusal(globex.fineTuning.jobs.resume(job.id), OpenAI.NotFoundError)
    await refusal(globex.files.retrieve(file.id), OpenAI.NotFoundError)
    await refusal(globex.files.content(file.id), OpenAI.NotFoundError)

    // acme's own stream is there (an event stream), so globex's 404 was the wall.
    const abort = new AbortController()
    const stream = await call(`/v1/sous/jobs/${job.id}/stream`, { tenant: "acme", signal: abort.signal })
    expect(stream.status).toBe(200)
    expect(stream.headers.get("content-type")).toMatch(/^text\/event-stream/)
    abort.abort()
    await stream.body?.cancel().catch(() => undefined)

    // A job on acme's file is refused as a bad training_file.
    const created = await refusal(createShortJob(globex, file.id), OpenAI.BadRequestError)
    expect(created.param).toBe("training_file")
    expect(created.message).toContain(file.id)

    // Lists show each tenant its own only.
    const acmeJobs = (await acme.fineTuning.jobs.list({ limit: 100 })).data.map((listed) => listed.id)
    const globexJobs = (await globex.fineTuning.jobs.list({ limit: 100 })).data.map((listed) => listed.id)
    expect(acmeJobs).toContain(job.id)
    expect(acmeJobs).not.toContain(globexJob.id)
    expect(globexJobs).toEqual([globexJob.id])
    const acmeFiles = (await acme.files.list()).data.map((listed) => listed.id)
    const globexFiles = (await globex.files.list()).data.map((listed) => listed.id)
    expect(acmeFiles).toContain(file.id)
    expect(acmeFiles).not.toContain(globexFile.id)
    expect(globexFiles).toEqual([globexFile.id])

    // After all of globex's tries, acme's job is as it was: queued, no control asked.
    const after = await acme.fineTuning.jobs.retrieve(job.id)
    expect(after.status).toBe("queued")
    expect(after.finished_at).toBeNull()
    const events = (await acme.fineTuning.jobs.listEvents(job.id)).data.map((event) => event.message).join("\n")
    expect(events).not.toMatch(/cancel|pause|resume/)
    // And acme's file still reads back as uploaded.
    expect(await (await acme.files.content(file.id)).text()).toBe(arithmeticRows(shortJobRows))
  })

  it("refuses a missing or wrong key with 401, and serves the dashboard page without one", async () => {
    const missing = await expectError(await call("/v1/fine_tuning/jobs"), 401)
    expect(missing.type).toBe("authentication_error")
    const wrong = await expectError(await call("/v1/fine_tuning/jobs", { headers: { authorization: "Bearer sk-not-a-key-of-anyone" } }), 401)
    expect(wrong.type).toBe("authentication_error")
    expect(wrong.code).toBe("invalid_api_key")
    await expectError(await call("/v1/files", { headers: { authorization: "Basic dXNlcjpwYXNz" } }), 401)
    await refusal(clientOf(server.url, "sk-wrong-key-0000000000").fineTuning.jobs.list(), OpenAI.AuthenticationError)

    const page = await call("/")
    expect(page.status).toBe(200)
    expect(page.headers.get("content-type")).toMatch(/^text\/html/)
    expect(await page.text()).toMatch(/<html/i)
  })
})

describe("request checks", () => {
  it("refuses oversized, malformed and off-schema bodies, wrong content types, unknown routes and methods", async () => {
    const file = await upload(acme)

    // A JSON body past maxJsonBytes (4 KiB here).
    const big = await expectError(await jsonPost("/v1/fine_tuning/jobs", { ...shortJobBody(file.id, 1), metadata: { pad: "x".repeat(500) }, pad: "y".repeat(5000) }), 413)
    expect(big.message).toContain("4096")

    // An upload past maxFileBytes (64 KiB here).
    const form = new FormData()
    form.set("purpose", "fine-tune")
    form.set("file", new Blob([arithmeticRows(1000)]), "big.jsonl")
    await expectError(await call("/v1/files", { method: "POST", tenant: "acme", body: form }), 413)
    await refusal(
      acme.files.create({ file: await jsonlFile(arithmeticRows(1000), "big.jsonl"), purpose: "fine-tune" }),
      OpenAI.APIError
    ).then((error) => expect(error.status).toBe(413))

    // Not JSON.
    const malformed = await expectError(
      await call("/v1/fine_tuning/jobs", { method: "POST", tenant: "acme", headers: { "content-type": "application/json" }, body: "{\"model\": " }),
      400
    )
    expect(malformed.message).toMatch(/JSON/)

    // Off the schema: each message names the field.
    const epochs = await expectError(
      await jsonPost("/v1/fine_tuning/jobs", { model: "sous/micro-transformer", training_file: file.id, hyperparameters: { n_epochs: -1 } }),
      400
    )
    expect(epochs.message).toContain("hyperparameters.n_epochs")
    const methodEpochs = await refusal(
      acme.fineTuning.jobs.create({
        model: "sous/micro-transformer",
        training_file: file.id,
        method: { type: "supervised", supervised: { hyperparameters: { n_epochs: 0 } } }
      }),
      OpenAI.BadRequestError
    )
    expect(methodEpochs.message).toContain("method.supervised.hyperparameters.n_epochs")
    const noModel = await expectError(await jsonPost("/v1/fine_tuning/jobs", { training_file: file.id }), 400)
    expect(noModel.message).toMatch(/\bmodel\b/)
    const badSuffix = await expectError(await jsonPost("/v1/fine_tuning/jobs", { ...shortJobBody(file.id, 1), suffix: "no spaces allowed" }), 400)
    expect(badSuffix.message).toContain("suffix")

    // A JSON route sent something else, and an upload sent JSON.
    const textBody = await call("/v1/fine_tuning/jobs", {
      method: "POST",
      tenant: "acme",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify(shortJobBody(file.id, 1))
    })
    expect(textBody.status).toBe(415)
    await expectError(textBody, 415)
    const jsonUpload = await jsonPost("/v1/files", { purpose: "fine-tune" })
    expect(jsonUpload.status).toBeGreaterThanOrEqual(400)
    expect(jsonUpload.status).toBeLessThan(500)
    await expectError(jsonUpload, jsonUpload.status)

    // No such route; a route without that method.
    const unknown = await expectError(await call("/v1/fine_tuning/nothing-here", { tenant: "acme" }), 404)
    expect(unknown.message).toContain("/v1/fine_tuning/nothing-here")
    await expectError(await call("/v2/files", { tenant: "acme" }), 404)
    await expectError(await call("/v1/fine_tuning/jobs", { method: "DELETE", tenant: "acme" }), 405)
    await expectError(await call(`/v1/files/${file.id}`, { method: "POST", tenant: "acme" }), 405)

    // A bad paging query.
    const limit = await expectError(await call("/v1/fine_tuning/jobs?limit=0", { tenant: "acme" }), 400)
    expect(limit.param).toBe("limit")

    // Nothing of the refused requests made a job.
    expect((await acme.fineTuning.jobs.list({ limit: 100 })).data.filter((job) => job.training_file === file.id)).toEqual([])
  })

  it("refuses an upload with a bad row, naming its line, or of mixed shapes or another purpose", async () => {
    const filesBefore = (await acme.files.list()).data.length
    const good = arithmeticRows(2)
    const conversation = (role: string) => JSON.stringify({ messages: [{ role: "user", content: "Add 1 and 2." }, { role, content: "3" }] })
    const pair = JSON.stringify({
      input: { messages: [{ role: "user", content: "Add 1 and 2." }] },
      preferred_output: [{ role: "assistant", content: "3" }],
      non_preferred_output: [{ role: "assistant", content: "4" }]
    })

    const notJson = await refusal(upload(acme, `${good}{"messages": [\n${conversation("assistant")}\n`), OpenAI.BadRequestError)
    expect(notJson.message).toContain("line 3")
    expect(notJson.message).toMatch(/JSON/)
    expect(notJson.param).toBe("file")

    const robot = await refusal(upload(acme, `${good}${conversation("robot")}\n`), OpenAI.BadRequestError)
    expect(robot.message).toContain("line 3")
    expect(robot.message).toContain("robot")

    const mixed = await refusal(upload(acme, `${good}${pair}\n`), OpenAI.BadRequestError)
    expect(mixed.message).toContain("line 3")
    expect(mixed.message).toMatch(/preference/)

    const empty = await refusal(upload(acme, "\n\n"), OpenAI.BadRequestError)
    expect(empty.message).toMatch(/no rows/)

    const purpose = await refusal(acme.files.create({ file: await jsonlFile(good), purpose: "assistants" }), OpenAI.BadRequestError)
    expect(purpose.param).toBe("purpose")
    expect(purpose.message).toContain("fine-tune")

    // None of them was stored.
    expect((await acme.files.list()).data).toHaveLength(filesBefore)
  })

  it("refuses an unknown model, a file of the wrong shape for the method, and reinforcement without a recipe", async () => {
    const file = await upload(acme)
    const pairs = await upload(acme, preferencePairs(4))

    const model = await refusal(acme.fineTuning.jobs.create({ ...shortJobBody(file.id, 1), model: "gpt-99" } as OpenAI.FineTuning.JobCreateParams), OpenAI.NotFoundError)
    expect(model.code).toBe("model_not_found")
    expect(model.param).toBe("model")
    expect(model.message).toContain("gpt-99")

    const wrongShape = await refusal(createShortJob(acme, pairs.id), OpenAI.BadRequestError)
    expect(wrongShape.param).toBe("training_file")
    expect(wrongShape.message).toContain("preference")

    const chatForDpo = await refusal(
      acme.fineTuning.jobs.create({ model: "sous/micro-transformer", training_file: file.id, method: { type: "dpo" } }),
      OpenAI.BadRequestError
    )
    expect(chatForDpo.param).toBe("training_file")

    const reinforcement = await refusal(
      acme.fineTuning.jobs.create({ model: "sous/micro-transformer", training_file: file.id, method: { type: "reinforcement" } }),
      OpenAI.BadRequestError
    )
    expect(reinforcement.message).toContain("sous.recipe")
  })
})

/** `rows` preference pairs in OpenAI's format. */
const preferencePairs = (rows: number): string =>
  Array.from({ length: rows }, (_, i) =>
    JSON.stringify({
      input: { messages: [{ role: "user", content: `Add ${i} and 1.` }] },
      preferred_output: [{ role: "assistant", content: String(i + 1) }],
      non_preferred_output: [{ role: "assistant", content: String(i + 2) }]
    }) + "\n").join("")

describe("jobs", () => {
  it("creates a DPO job from OpenAI preference pairs, written as sous's {prompt, chosen, rejected} rows", async () => {
    const file = await upload(acme, preferencePairs(12))
    const job = await acme.fineTuning.jobs.create({
      model: "sous/micro-transformer",
      training_file: file.id,
      method: { type: "dpo", dpo: { hyperparameters: { beta: 0.25, n_epochs: 1, batch_size: 4 } } }
    })
    expect(job.status).toBe("queued")
    expect(job.method?.type).toBe("dpo")
    expect(job.method?.dpo?.hyperparameters).toMatchObject({ beta: 0.25, n_epochs: 1, batch_size: 4 })
    expect(job.hyperparameters).toMatchObject({ n_epochs: 1, batch_size: 4 })

    const rows = readFileSync(join(home, "jobs", job.id, "data", "train.jsonl"), "utf8").trim().split("\n").map((line) => JSON.parse(line) as unknown)
    expect(rows).toHaveLength(12)
    expect(rows[0]).toEqual({
      prompt: [{ role: "user", content: "Add 0 and 1." }],
      chosen: [{ role: "assistant", content: "1" }],
      rejected: [{ role: "assistant", content: "2" }]
    })
    for (const row of rows) expect(Object.keys(row as object).sort()).toEqual(["chosen", "prompt", "rejected"])
    const recipe = JSON.parse(readFileSync(join(home, "jobs", job.id, "recipe.json"), "utf8")) as { kind: string; preference: { beta: number } }
    expect(recipe.kind).toBe("preference")
    expect(recipe.preference.beta).toBe(0.25)
  })

  it("evaluates on the validation file when one is given, once per epoch", async () => {
    const training = await upload(acme, arithmeticRows(40))
    const validation = await upload(acme, arithmeticRows(8))
    const job = await acme.fineTuning.jobs.create({ ...shortJobBody(training.id, 2), validation_file: validation.id } as OpenAI.FineTuning.JobCreateParams)
    expect(job.validation_file).toBe(validation.id)
    const directory = join(home, "jobs", job.id)
    const recipe = JSON.parse(readFileSync(join(directory, "recipe.json"), "utf8")) as {
      data: Record<string, string>
      training: { steps: number }
      eval: { every: number }
      checkpoint: { every: number }
    }
    // All 40 rows train (nothing held out), 5 steps an epoch.
    expect(recipe).toMatchObject({ data: { train: "data/train.jsonl", eval: "data/validation.jsonl" }, training: { steps: 10 } })
    expect(recipe.eval.every).toBe(5)
    expect(recipe.checkpoint.every).toBe(5)
    expect(readFileSync(join(directory, "data", "validation.jsonl"), "utf8")).toBe(arithmeticRows(8))
  })

  it("runs a sous recipe given in the `sous` field, with the job's file as its data and `set` overrides", async () => {
    const file = await upload(acme)
    const recipe = {
      kind: "supervised",
      model: { layers: 1, width: 16, heads: 2, contextLength: 64 },
      training: { steps: 7, batchSize: 4 },
      backend: { kind: "local", device: "wasm" }
    }
    const body = { model: "sous/micro-transformer", training_file: file.id, sous: { recipe, set: ["training.steps=3"] } }
    const job = await acme.fineTuning.jobs.create(body as OpenAI.FineTuning.JobCreateParams)
    expect(job.status).toBe("queued")
    const resolved = JSON.parse(readFileSync(join(home, "jobs", job.id, "run", "recipe.json"), "utf8")) as {
      model: { width: number }
      training: { steps: number }
      data: { train: string }
    }
    expect(resolved.model.width).toBe(16)
    expect(resolved.training.steps).toBe(3)
    expect(resolved.data.train).toBe(join(home, "jobs", job.id, "data", "train.jsonl"))

    // A bad override is the recipe's refusal, naming the field; no job is made.
    const before = (await acme.fineTuning.jobs.list({ limit: 100 })).data.length
    const refused = await call("/v1/fine_tuning/jobs", {
      method: "POST",
      tenant: "acme",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, sous: { recipe, set: ["training.steps=-3"] } })
    })
    expect((await expectError(refused, 400)).message).toMatch(/training\.steps/)
    expect((await acme.fineTuning.jobs.list({ limit: 100 })).data.length).toBe(before)
  })

  it("refuses recipe fields that would reach the server's files, secrets or another tenant's runs", async () => {
    const file = await upload(acme)
    const before = (await acme.fineTuning.jobs.list({ limit: 100 })).data.length
    const refused = async (sous: unknown, param: string) => {
      const response = await call("/v1/fine_tuning/jobs", {
        method: "POST",
        tenant: "acme",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "sous/micro-transformer", training_file: file.id, sous })
      })
      const error = await expectError(response, 400)
      expect(error).toMatchObject({ param, code: "forbidden_recipe_field" })
      return error.message
    }
    expect(await refused({ recipe: { kind: "supervised", data: { train: "/etc/passwd" } } }, "sous.recipe.data.train")).toContain("data.train")
    await refused({ recipe: { kind: "supervised", backend: { kind: "tinker", baseUrl: "http://attacker.invalid", apiKeyEnv: "AWS_SECRET_ACCESS_KEY" } } }, "sous.recipe.backend.kind")
    await refused({ set: ["backend={kind: tinker, baseUrl: http://attacker.invalid}"] }, "sous.set[0]")
    await refused({ set: ["model.width=16", "backend.apiKeyEnv=HOME"] }, "sous.set[1]")
    await refused({ set: [`model.from.store=${join(home, "jobs")}`] }, "sous.set[0]")
    expect(await refused({ set: ["model={from: {store: /tmp}}"] }, "sous.set[0]")).toContain("model (it holds model.from)")
    await refused({ set: ["checkpoint.uri=s3://bucket/x"] }, "sous.set[0]")
    await refused({ recipe: { kind: "supervised", model: { hf: "/srv/models/private" } } }, "sous.recipe.model.hf")
    await refused({ set: ["model.hf=hf://org/private-model"] }, "sous.set[0]")
    await refused({ recipe: { kind: "rl", env: { module: "/tmp/evil.js" } } }, "sous.recipe.env.module")
    expect((await acme.fineTuning.jobs.list({ limit: 100 })).data.length).toBe(before)
  })

  it("pauses and resumes a queued job, and cancels one at once", async () => {
    const file = await upload(acme)
    const job = await createShortJob(acme, file.id)
    const paused = await acme.fineTuning.jobs.pause(job.id)
    expect(paused).toMatchObject({ object: "fine_tuning.job", id: job.id })
    const resumed = await acme.fineTuning.jobs.resume(job.id)
    expect(resumed).toMatchObject({ object: "fine_tuning.job", id: job.id })
    // A queued run asked to pause pauses before its first segment: the job shows paused.
    expect(paused.status).toBe("paused")
    expect(resumed.status).toBe("queued")

    const cancelled = await acme.fineTuning.jobs.cancel(job.id)
    expect(cancelled).toMatchObject({ id: job.id, status: "cancelled", fine_tuned_model: null })
    expect(cancelled.finished_at).not.toBeNull()
    expect((await acme.fineTuning.jobs.retrieve(job.id)).status).toBe("cancelled")
    // A cancelled job cannot be resumed or cancelled again.
    await refusal(acme.fineTuning.jobs.resume(job.id), OpenAI.BadRequestError)
    await refusal(acme.fineTuning.jobs.cancel(job.id), OpenAI.BadRequestError)
  })
})

describe("paging", () => {
  it("pages jobs newest first with limit and after, and the client walks every page", async () => {
    // A server of its own, so acme has exactly these three jobs.
    const own = await startTestJobsServer(testDirectory("jobs-paging"), limits)
    try {
      const client = clientOf(own.url, own.keys["acme"]!)
      const file = await upload(client)
      const ids: Array<string> = []
      for (let i = 0; i < 3; i++) {
        ids.push((await createShortJob(client, file.id)).id)
        // Jobs are ordered by creation time in ms: no two in the same one.
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      const newestFirst = [...ids].reverse()

      const first = await client.fineTuning.jobs.list({ limit: 2 })
      expect(first.data.map((job) => job.id)).toEqual(newestFirst.slice(0, 2))
      expect(first.has_more).toBe(true)
      const second = await client.fineTuning.jobs.list({ limit: 2, after: first.data[1]!.id })
      expect(second.data.map((job) => job.id)).toEqual(newestFirst.slice(2))
      expect(second.has_more).toBe(false)

      const all: Array<string> = []
      for await (const job of client.fineTuning.jobs.list({ limit: 2 })) all.push(job.id)
      expect(all).toEqual(newestFirst)
      const single: Array<string> = []
      for await (const job of client.fineTuning.jobs.list({ limit: 1 })) single.push(job.id)
      expect(single).toEqual(newestFirst)

      // globex has none.
      const globexList = await clientOf(own.url, own.keys["globex"]!).fineTuning.jobs.list()
      expect(globexList.data).toEqual([])
      expect(globexList.has_more).toBe(false)
    } finally {
      await own.close()
    }
  })
})
