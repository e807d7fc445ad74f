import { join } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest"
import { writeReport } from "../../src/cli/report/index.js"
import { type ChromiumSession, chromiumSkipReason, launchChromium, pageValue, waitForExpression } from "../support/chromium.js"
import { readEvents, readMetrics } from "../support/run-directory.js"
import { testDirectory } from "../support/temp-directory.js"

// The report page opened from disk in headless chromium: the charts uPlot drew, read from
// the page's uPlot instances (`window.sousReport.charts`), against the run directories.
const fixtures = fileURLToPath(new URL("../fixtures/report/", import.meta.url))
const fast = join(fixtures, "lr-3e-3")
const slow = join(fixtures, "lr-1e-3")
const pipeline = join(fixtures, "two-stage")

/** What the page shows of one drawn chart. */
interface DrawnChart {
  readonly id: string
  readonly measure: string
  readonly source: string
  /** The series' labels (the runs), without the x series. */
  readonly labels: ReadonlyArray<string>
  /** The points each series holds. */
  readonly points: ReadonlyArray<number>
  /** Pixels of the chart's canvas that are not blank. */
  readonly inked: number
}

const drawnCharts = `window.sousReport.charts.map(function (chart) {
  var figure = document.getElementById(chart.id);
  var canvas = chart.plot.root.querySelector("canvas");
  var pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  var inked = 0;
  for (var i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) inked += 1;
  return {
    id: chart.id,
    measure: figure.getAttribute("data-measure"),
    source: figure.getAttribute("data-source"),
    labels: chart.plot.series.slice(1).map(function (series) { return series.label; }),
    points: chart.plot.data.slice(1).map(function (values) { return values.filter(function (value) { return value !== null && value !== undefined; }).length; }),
    inked: inked
  };
})`

const skipReason = chromiumSkipReason()
// The default reporter shows a skipped suite only as a count: say why once.
if (skipReason !== undefined) console.warn(`Report browser tests ${skipReason}`)

describe.skipIf(skipReason !== undefined)(skipReason === undefined ? "sous report in chromium" : `sous report in chromium (${skipReason})`, () => {
  let chromium: ChromiumSession
  beforeAll(async () => {
    chromium = await launchChromium()
  })
  afterAll(() => chromium?.close())

  /** Writes the report of `dirs` and opens it from disk: the page, every URL it requested, and its errors. */
  const openReport = async (dirs: ReadonlyArray<string>) => {
    const file = join(testDirectory("report-browser"), "report.html")
    await Effect.runPromise(writeReport(dirs, file))
    const before = chromium.errors.length
    const page = await chromium.open("about:blank")
    onTestFinished(() => page.close())
    const requests: Array<string> = []
    page.on("request", (request) => void requests.push(request.url()))
    const url = pathToFileURL(file).href
    await page.goto(url, { waitUntil: "load" })
    await waitForExpression(page, "window.sousReport !== undefined")
    return { url, requests, charts: await pageValue<ReadonlyArray<DrawnChart>>(page, drawnCharts), errors: chromium.errors.slice(before) }
  }

  it("draws every step and evaluation of two runs, one series each, loading nothing but itself", async () => {
    const opened = await openReport([fast, slow])
    expect(opened.errors).toEqual([])
    expect(opened.requests).toEqual([opened.url])
    const steps = [readMetrics(fast).length, readMetrics(slow).length]
    const evals = [readEvents(fast, "eval").length, readEvents(slow, "eval").length]
    expect(steps).toEqual([12, 12])
    expect(evals).toEqual([4, 3])
    expect(opened.charts.map((chart) => `${chart.source}:${chart.measure}`)).toEqual([
      "train:loss", "train:lr", "train:grad_norm:mean", "train:tokens", "train:seconds",
      "eval:eval_nll", "eval:eval_tokens", "eval:eval_bpb"
    ])
    for (const chart of opened.charts) {
      expect(chart.labels).toEqual(["lr-3e-3", "lr-1e-3"])
      expect(chart.points).toEqual(chart.source === "train" ? steps : evals)
      expect(chart.inked).toBeGreaterThan(1_000)
    }
  })

  it("shows a pipeline's stages as runs, each with its own steps", async () => {
    const opened = await openReport([pipeline])
    expect(opened.errors).toEqual([])
    const loss = opened.charts.find((chart) => chart.measure === "loss")
    expect(loss?.labels).toEqual(["two-stage/warmup", "two-stage/finetune"])
    expect(loss?.points).toEqual([8, 6])
    const nll = opened.charts.find((chart) => chart.measure === "eval_nll")
    expect(nll?.points).toEqual([readEvents(join(pipeline, "warmup"), "eval").length, readEvents(join(pipeline, "finetune"), "eval").length])
  })
})
