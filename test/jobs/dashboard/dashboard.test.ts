import OpenAI, { toFile } from "openai"
import type { Page } from "puppeteer-core"
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest"
import { type ChromiumSession, chromiumSkipReason, launchChromium, pageValue, waitForExpression } from "../../support/chromium.js"
import { arithmeticRows, shortJobBody, shortJobRows, startTestJobsServer, type TestJobsServer } from "../../support/jobs-service.js"
import { suiteDirectory } from "../../support/temp-directory.js"

// The dashboard end to end: `sous jobs serve` in process with its own worker, a supervised
// job training on the micro model, and the page in chromium following it live. With
// SOUS_DASHBOARD_SCREENSHOT=<file.png> the test saves what the page showed mid-run there.

const chartPoints = (page: Page) => pageValue<number>(page, `Number(document.querySelector("#chart").getAttribute("data-points"))`)

const waitForText = (page: Page, selector: string, expected: string, timeoutMs?: number) =>
  waitForExpression(page, `document.querySelector(${JSON.stringify(selector)})?.textContent.includes(${JSON.stringify(expected)})`, timeoutMs)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const skipReason = chromiumSkipReason()
// The default reporter shows a skipped suite only as a count: say why once.
if (skipReason !== undefined) console.warn(`Dashboard end-to-end test ${skipReason}`)

describe.skipIf(skipReason !== undefined)(skipReason === undefined ? "dashboard end to end" : `dashboard end to end (${skipReason})`, () => {
  const home = suiteDirectory("dashboard-e2e")
  let chromium: ChromiumSession
  let server: TestJobsServer
  let client: OpenAI
  beforeAll(async () => {
    ;[chromium, server] = await Promise.all([launchChromium(), startTestJobsServer(home)])
    client = new OpenAI({ apiKey: server.keys["acme"]!, baseURL: `${server.url}/v1`, maxRetries: 0 })
  })
  afterAll(async () => {
    await chromium?.close()
    await server?.close()
  })

  it("follows a training job live: the chart grows while it runs, and the page sees it end", async () => {
    const file = await client.files.create({ file: await toFile(Buffer.from(arithmeticRows(shortJobRows)), "train.jsonl"), purpose: "fine-tune" })
    // 40 epochs of 6 steps: far longer than the test watches; it is cancelled at the end.
    const job = await client.fineTuning.jobs.create(shortJobBody(file.id, 40) as OpenAI.FineTuning.JobCreateParams)
    onTestFinished(async () => {
      await client.fineTuning.jobs.cancel(job.id).catch(() => undefined)
    })

    const page = await chromium.open(`${server.url}/#key=${server.keys["acme"]}&job=${job.id}`)
    onTestFinished(() => page.close())
    await page.waitForSelector(`#jobs-body tr.selected[data-job-id="${job.id}"]`)
    expect(await pageValue(page, "location.hash")).toBe(`#job=${job.id}`)

    // The first steps come once the worker has started the run's segment process.
    await waitForExpression(page, `Number(document.querySelector("#chart").getAttribute("data-points")) > 0`, 120_000)
    const first = await chartPoints(page)
    await sleep(2_000)
    // On a loaded machine a step may take longer: give the run time before failing.
    await waitForExpression(page, `Number(document.querySelector("#chart").getAttribute("data-points")) > ${first}`, 30_000)
    const second = await chartPoints(page)
    expect(second).toBeGreaterThan(first)
    await waitForText(page, "#facts", "running")

    const screenshot = process.env.SOUS_DASHBOARD_SCREENSHOT
    if (screenshot !== undefined && screenshot !== "") {
      // Wait for a checkpoint and the events, so the picture shows every part of the page.
      await waitForExpression(page, `document.querySelectorAll("#checkpoints-body tr").length > 0`, 60_000)
      await waitForExpression(page, `document.querySelectorAll("#events li").length > 0`)
      await page.screenshot({ path: screenshot as `${string}.png`, fullPage: true })
    }

    await client.fineTuning.jobs.cancel(job.id)
    await waitForText(page, "#connection", "finished", 60_000)
    expect(await pageValue<string>(page, `document.querySelector("#facts").textContent`)).toContain("cancelled")
    await waitForText(page, `#jobs-body tr[data-job-id="${job.id}"]`, "cancelled")
    expect(chromium.errors).toEqual([])
  }, 240_000)
})
