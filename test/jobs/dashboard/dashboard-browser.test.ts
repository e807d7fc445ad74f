import { appendFileSync, mkdirSync, writeFileSync } from "node:fs"
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import type { Page } from "puppeteer-core"
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest"
import { dashboardAsset } from "../../../src/jobs/dashboard/dashboard-assets.js"
import { dashboardPage, dashboardPageContentType } from "../../../src/jobs/dashboard/dashboard-page.js"
import { streamJob } from "../../../src/jobs/dashboard/job-stream.js"
import { type ChromiumSession, chromiumSkipReason, launchChromium, pageValue, waitForExpression } from "../../support/chromium.js"
import { testDirectory } from "../../support/temp-directory.js"

// The dashboard page in chromium against a stand-in for the job service: the page, its
// assets, the three list routes and the real stream over a run directory the test writes
// into. dashboard.test.ts runs it against the real service and a training job.

const key = "sk-dashboard-test"
const jobId = "ftjob-dash1"

const metric = (step: number) => `${JSON.stringify({ step, loss: 3 / Math.sqrt(step), lr: 0.001 })}\n`
const evaluation = (step: number, nll: number) =>
  `${JSON.stringify({ time: new Date().toISOString(), name: "eval", step, data: { eval_nll: nll } })}\n`

const list = (data: ReadonlyArray<unknown>) => ({ object: "list", data, has_more: false })

const startService = async () => {
  const runDir = testDirectory("dashboard-browser")
  const attempt = join(runDir, "attempts", "a1")
  mkdirSync(attempt, { recursive: true })
  writeFileSync(join(runDir, "metrics.jsonl"), [1, 2, 3, 4].map(metric).join(""))
  writeFileSync(join(runDir, "events.jsonl"), evaluation(4, 2.2))
  writeFileSync(join(attempt, "metrics.jsonl"), [1, 2, 3, 4, 5].map(metric).join(""))
  const created = Math.floor(Date.now() / 1_000)
  const job = {
    object: "fine_tuning.job",
    id: jobId,
    model: "sous/byte-transformer",
    status: "running",
    created_at: created,
    finished_at: null as number | null,
    fine_tuned_model: null as string | null,
    error: null,
    trained_tokens: 320,
    sous: { run_id: "run-1", step: 5, total_steps: 12 }
  }
  const checkpoints = [{
    object: "fine_tuning.job.checkpoint",
    id: "ftckpt-4",
    created_at: created,
    step_number: 4,
    metrics: { step: 4, train_loss: 1.5, valid_loss: 2.2 },
    fine_tuned_model_checkpoint: "ft:sous/byte-transformer:ckpt-step-4",
    fine_tuning_job_id: jobId
  }]
  const events = [{ object: "fine_tuning.job.event", id: "ftevent-1", created_at: created, level: "info", message: "Fine-tuning job started", type: "message", data: {} }]
  const requests: Array<string> = []

  const reply = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { "Content-Type": "application/json" })
    response.end(JSON.stringify(body))
  }
  const route = (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? "/", "http://localhost")
    requests.push(`${request.method} ${url.pathname}${url.search}`)
    if (url.pathname === "/") {
      response.writeHead(200, { "Content-Type": dashboardPageContentType })
      return response.end(dashboardPage())
    }
    const asset = url.pathname.startsWith("/assets/") ? dashboardAsset(url.pathname.slice("/assets/".length)) : undefined
    if (asset !== undefined) {
      response.writeHead(200, { "Content-Type": asset.contentType })
      return response.end(asset.body)
    }
    if (request.headers.authorization !== `Bearer ${key}`) {
      return reply(response, 401, { error: { message: "Incorrect API key provided", type: "authentication_error", param: null, code: "invalid_api_key" } })
    }
    const path = url.pathname
    if (path === "/v1/fine_tuning/jobs") return reply(response, 200, list([job]))
    if (path === `/v1/fine_tuning/jobs/${jobId}/checkpoints`) return reply(response, 200, list(checkpoints))
    if (path === `/v1/fine_tuning/jobs/${jobId}/events`) return reply(response, 200, list(events))
    if (path === `/v1/sous/jobs/${jobId}/stream`) return void streamJob(request, response, { runDir, job: async () => job })
    return reply(response, 404, { error: { message: `no route ${path}`, type: "not_found_error", param: null, code: null } })
  }
  const server = createServer(route)
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  onTestFinished(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, runDir, attempt, job, checkpoints, events, requests }
}

const chartPoints = (page: Page) => pageValue<number>(page, `Number(document.querySelector("#chart").getAttribute("data-points"))`)

const waitForPoints = (page: Page, count: number) =>
  waitForExpression(page, `document.querySelector("#chart").getAttribute("data-points") === "${count}"`)

const text = (page: Page, selector: string) => pageValue<string>(page, `document.querySelector(${JSON.stringify(selector)}).textContent`)

const waitForText = (page: Page, selector: string, expected: string) =>
  waitForExpression(page, `document.querySelector(${JSON.stringify(selector)})?.textContent.includes(${JSON.stringify(expected)})`)

const skipReason = chromiumSkipReason()
// The default reporter shows a skipped suite only as a count: say why once.
if (skipReason !== undefined) console.warn(`Dashboard browser tests ${skipReason}`)

describe.skipIf(skipReason !== undefined)(skipReason === undefined ? "dashboard in chromium" : `dashboard in chromium (${skipReason})`, () => {
  let chromium: ChromiumSession
  beforeAll(async () => {
    chromium = await launchChromium()
  })
  afterAll(() => chromium?.close())

  /** The errors the test's pages reported, from the call on. */
  const errorsFromNow = () => {
    const before = chromium.errors.length
    return () => chromium.errors.slice(before)
  }

  it("follows a job live from #key=...&job=..., keeping the key out of the address bar", async () => {
    const errors = errorsFromNow()
    const service = await startService()
    const page = await chromium.open(`${service.base}/#key=${key}&job=${jobId}`)
    onTestFinished(() => page.close())

    await waitForPoints(page, 5)
    expect(await pageValue(page, "location.hash")).toBe(`#job=${jobId}`)
    expect(await pageValue(page, `sessionStorage.getItem("sous.apiKey")`)).toBe(key)
    await page.waitForSelector(`#jobs-body tr.selected[data-job-id="${jobId}"]`)
    expect(await text(page, "#jobs-body")).toContain("5 / 12")
    expect(await text(page, "#facts")).toContain("running")
    await waitForExpression(page, `document.querySelectorAll("#checkpoints-body tr").length === 1`)
    expect(await text(page, "#checkpoints-body")).toContain("ckpt-step-4")
    expect(await text(page, "#events")).toContain("Fine-tuning job started")

    // Steps the attempt trains reach the chart while the page is open.
    appendFileSync(join(service.attempt, "metrics.jsonl"), [6, 7, 8].map(metric).join(""))
    appendFileSync(join(service.attempt, "events.jsonl"), evaluation(8, 1.9))
    await waitForPoints(page, 8)
    service.job.sous.step = 8
    await waitForText(page, "#jobs-body", "8 / 12")

    // The job ends: the page says so and keeps what it showed.
    writeFileSync(join(service.runDir, "metrics.jsonl"), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map(metric).join(""))
    Object.assign(service.job, { status: "succeeded", finished_at: Math.floor(Date.now() / 1_000), fine_tuned_model: "ft:sous/byte-transformer:done" })
    service.job.sous.step = 12
    await waitForPoints(page, 12)
    await waitForText(page, "#connection", "finished")
    expect(await text(page, "#facts")).toContain("ft:sous/byte-transformer:done")
    expect(await chartPoints(page)).toBe(12)
    expect(service.requests.filter((request) => request.endsWith("/stream"))).toHaveLength(1)
    expect(service.requests).toContain("GET /v1/fine_tuning/jobs?limit=100")
    expect(errors()).toEqual([])
  })

  it("says so, once, when the job is not the key's", async () => {
    const errors = errorsFromNow()
    const service = await startService()
    const page = await chromium.open(`${service.base}/#key=${key}&job=ftjob-other`)
    onTestFinished(() => page.close())

    await waitForText(page, "#notice", "There is no job ftjob-other for this key.")
    await waitForExpression(page, `document.querySelectorAll("#jobs-body tr").length === 1`)
    await new Promise((resolve) => setTimeout(resolve, 2_500))
    // No retry: one stream request, and only the 404 answers logged.
    expect(service.requests.filter((request) => request.endsWith("/stream"))).toHaveLength(1)
    expect(errors().length).toBeGreaterThan(0)
    expect(errors().filter((error) => !error.includes("404"))).toEqual([])
  })

  it("asks for a key, and again when the server refuses it", async () => {
    const errors = errorsFromNow()
    const service = await startService()
    const page = await chromium.open(`${service.base}/`)
    onTestFinished(() => page.close())

    await page.waitForSelector("#key-form:not([hidden])")
    await page.type("#key-input", "sk-wrong")
    await page.click("#key-form button")
    await waitForText(page, "#key-message", "The server refused this key.")
    expect(await pageValue(page, `sessionStorage.getItem("sous.apiKey")`)).toBeNull()
    // The refusal itself is the only error: chromium logs every 4xx answer.
    expect(errors()).toHaveLength(1)
    expect(errors()[0]).toContain("401")

    await page.type("#key-input", key)
    await page.click("#key-form button")
    await page.waitForSelector(`#jobs-body tr[data-job-id="${jobId}"]`)
    await page.click(`#jobs-body tr[data-job-id="${jobId}"] td:nth-child(3)`)
    await waitForPoints(page, 5)
    expect(await pageValue(page, "location.hash")).toBe(`#job=${jobId}`)
    expect(errors()).toHaveLength(1)
  })
})
