import { appendFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Cause, Effect, Exit } from "effect"
import { describe, expect, it, vi } from "vitest"
import { parseArgs, UsageError } from "../../src/cli/args.js"
import { describeCause } from "../../src/cli/describe-error.js"
import { buildReport, type ReportError, type ReportModel } from "../../src/cli/report/index.js"
import { reportScript } from "../../src/cli/report/report-script.js"
import { reportCommand } from "../../src/cli/report-command.js"
import { readEvents, readManifest, readMetrics, readSummary } from "../support/run-directory.js"
import { testDirectory } from "../support/temp-directory.js"

// The fixtures are real run directories of the sft-arithmetic example (two 12-step runs that
// differ in learning rate and eval interval, and a two-stage pipeline), their checkpoint
// blobs left out: the report reads only the manifests. See test/fixtures/report/README.md.
const fixtures = fileURLToPath(new URL("../fixtures/report/", import.meta.url))
const fast = join(fixtures, "lr-3e-3")
const slow = join(fixtures, "lr-1e-3")
const pipeline = join(fixtures, "two-stage")

const report = (dirs: ReadonlyArray<string>) => Effect.runPromise(buildReport(dirs))

/** The error building a report of `dirs` fails with. */
const failure = async (dirs: ReadonlyArray<string>): Promise<ReportError> => {
  const exit = await Effect.runPromiseExit(buildReport(dirs))
  if (Exit.isSuccess(exit)) throw new Error(`the report of ${dirs.join(", ")} was built`)
  const reason = exit.cause.reasons.find(Cause.isFailReason)
  if (reason === undefined) throw new Error(`not a failure: ${Cause.pretty(exit.cause)}`)
  // The CLI's line for it says the same.
  expect(describeCause(exit.cause, false)).toBe(reason.error.message)
  return reason.error
}

/** A copy of a fixture run in a test directory, to damage. */
const copyOf = (run: string, name = "run") => {
  const dir = join(testDirectory("report"), name)
  cpSync(run, dir, { recursive: true })
  return dir
}

const chart = (model: ReportModel, source: "train" | "eval", measure: string) => {
  const found = model.charts.find((chart) => chart.source === source && chart.measure === measure)
  if (found === undefined) throw new Error(`no ${source} chart of ${measure}`)
  return found
}

const points = (values: ReadonlyArray<number | null>) => values.filter((value) => value !== null).length

/** The JSON of the page's `#report-data` element. */
const pageData = (html: string): { runs: Array<{ name: string; color: string }>; charts: ReportModel["charts"] } => {
  const match = /<script id="report-data" type="application\/json">(.*?)<\/script>/s.exec(html)
  if (match === null) throw new Error("no #report-data element")
  return JSON.parse(match[1]!)
}

describe("sous report: the model", () => {
  it("charts every step of each run, one series per run, and each eval measure at its evaluations", async () => {
    const { model } = await report([fast, slow])
    expect(model.runs.map((run) => run.name)).toEqual(["lr-3e-3", "lr-1e-3"])
    expect(model.runs.map((run) => run.kind)).toEqual(["supervised", "supervised"])
    expect(new Set(model.runs.map((run) => run.color)).size).toBe(2)
    expect(model.charts.map((chart) => `${chart.source}:${chart.measure}`)).toEqual([
      "train:loss", "train:lr", "train:grad_norm:mean", "train:tokens", "train:seconds",
      "eval:eval_nll", "eval:eval_tokens", "eval:eval_bpb"
    ])
    for (const [index, dir] of [fast, slow].entries()) {
      const metrics = readMetrics(dir)
      const evals = readEvents(dir, "eval")
      expect(model.runs[index]!.steps).toBe(metrics.length)
      const loss = chart(model, "train", "loss")
      expect(points(loss.series[index]!.values)).toBe(metrics.length)
      // Each value sits at its step.
      expect(loss.steps.flatMap((step, at) => loss.series[index]!.values[at] === null ? [] : [[step, loss.series[index]!.values[at]]]))
        .toEqual(metrics.map((line) => [line.step, line["loss"]]))
      expect(points(chart(model, "train", "grad_norm:mean").series[index]!.values)).toBe(metrics.length)
      const nll = chart(model, "eval", "eval_nll")
      expect(points(nll.series[index]!.values)).toBe(evals.length)
      expect(model.runs[index]!.finalLoss).toBe(metrics.at(-1)!["loss"])
    }
    // Evaluated every 4 and every 6 steps: the chart's steps are both runs' steps.
    expect(chart(model, "eval", "eval_nll").steps).toEqual([0, 4, 6, 8, 12])
    expect(chart(model, "train", "lr").series.map((series) => series.run)).toEqual([0, 1])
  })

  it("takes timing from summary.json, and checkpoints with their step and size from their manifests", async () => {
    const { model } = await report([fast])
    const [run] = model.runs
    const { timing } = readSummary<{ timing: { startedAt: string; seconds: number; stepsPerSecond: number } }>(fast)
    expect(run!.timing).toEqual({ ...timing, source: "summary" })
    expect(run!.finished).toBe(true)
    expect(run!.checkpoints.map((checkpoint) => [checkpoint.name, checkpoint.step])).toEqual([["step-00000006", 6], ["final", 12]])
    const final = readManifest(fast, "final")
    expect(run!.checkpoints[1]).toEqual({
      name: "final",
      step: 12,
      bytes: final.blobs.reduce((sum, blob) => sum + blob.bytes, 0),
      createdAt: final.createdAt,
      location: join(fast, "checkpoints", "final", "manifest.json")
    })
    expect(model.recipeDifferences).toEqual([])
  })

  it("lists the recipe fields that differ between runs, with each run's value", async () => {
    const { model } = await report([fast, slow])
    expect(model.recipeDifferences).toEqual([
      { path: "optimizer.lr", values: ["0.003", "0.001"] },
      { path: "eval.every", values: ["4", "6"] }
    ])
  })

  it("shows each started stage of a pipeline as a run", async () => {
    const { model } = await report([pipeline])
    expect(model.runs.map((run) => [run.name, run.steps])).toEqual([["two-stage/warmup", 8], ["two-stage/finetune", 6]])
    expect(model.recipeDifferences.map((difference) => difference.path)).toContain("model.from.checkpoint")
    // A stage that never started is left out.
    const dir = copyOf(pipeline, "two-stage")
    rmSync(join(dir, "finetune"), { recursive: true })
    expect((await report([dir])).model.runs.map((run) => run.name)).toEqual(["two-stage/warmup"])
  })

  it("reports a run that has not finished: no summary, timing from its events, and its resumes", async () => {
    const dir = copyOf(fast)
    rmSync(join(dir, "summary.json"))
    appendFileSync(join(dir, "events.jsonl"), `${JSON.stringify({ time: "2026-12-07T10:42:39.834Z", name: "resume", step: 6, data: { checkpoint: "step-00000006" } })}\n`)
    // A last line cut short by a crash is left out, as resume leaves it out.
    appendFileSync(join(dir, "metrics.jsonl"), `{"step":13,"loss":`)
    const { model, html } = await report([dir])
    const [run] = model.runs
    expect(run!.finished).toBe(false)
    expect(run!.steps).toBe(12)
    expect(run!.resumedAt).toEqual([6])
    const times = readEvents(dir).map((event) => Date.parse(event.time))
    const seconds = (Math.max(...times) - Math.min(...times)) / 1000
    expect(run!.timing).toEqual({ startedAt: new Date(Math.min(...times)).toISOString(), seconds, stepsPerSecond: 12 / seconds, source: "events" })
    expect(html).toContain("no summary.json: still running, or stopped before its end")
    expect(html).toContain("resumed from step 6")
  })

  it("names two runs that share a directory name by their directories", async () => {
    const { model } = await report([fast, copyOf(fast, "lr-3e-3")])
    expect(model.runs[0]!.name).toBe(fast)
    expect(model.runs[1]!.name).toMatch(/sous-report-.*\/lr-3e-3$/)
    expect((await report([fast, fast])).model.runs.map((run) => run.name)).toEqual([fast, `${fast} (2)`])
  })
})

describe("sous report: the page", () => {
  it("is one file with uPlot and the data inside, and names no URL", async () => {
    const { html, model } = await report([fast, slow])
    expect(html).toContain("var uPlot=function()")
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).not.toMatch(/\bsrc\s*=/i)
    expect([...html.matchAll(/\bhref\s*=\s*"([^"]*)"/gi)].map((match) => match[1])).toEqual(["data:,"])
    expect(html).not.toMatch(/url\(|@import/i)
    expect(pageData(html)).toEqual({ runs: model.runs.map((run) => ({ name: run.name, color: run.color })), charts: model.charts })
    // A figure for each chart, where the script draws it.
    expect([...html.matchAll(/<figure class="chart" id="([^"]+)"/g)].map((match) => match[1])).toEqual(model.charts.map((chart) => chart.id))
    // Every inline script parses.
    const scripts = [...html.matchAll(/<script>(.*?)<\/script>/gs)].map((match) => match[1]!)
    expect(scripts).toHaveLength(2)
    for (const script of scripts) expect(() => new Function(script)).not.toThrow()
    expect(() => new Function(reportScript)).not.toThrow()
  })

  it("keeps text from the run directory inert: a measure named </script> stays data", async () => {
    const dir = copyOf(fast)
    const hostile = "</script><script>alert(1)</script><!--"
    const lines = readFileSync(join(dir, "metrics.jsonl"), "utf8").trim().split("\n")
    writeFileSync(join(dir, "metrics.jsonl"), lines.map((line) => JSON.stringify({ ...JSON.parse(line), [hostile]: 1 })).join("\n") + "\n")
    const { html } = await report([dir])
    expect(html).not.toContain("<script>alert(1)")
    expect(pageData(html).charts.map((chart) => chart.measure)).toContain(hostile)
    expect(html).toContain("&lt;/script&gt;&lt;script&gt;alert(1)")
  })

  it("shows the checkpoints, the recipes (each collapsible) and, for several runs, where they differ", async () => {
    const { html } = await report([fast, slow])
    expect(html).toContain("<code>step-00000006</code>")
    expect(html.match(/<details>/g)).toHaveLength(2)
    expect(html).toContain("Fields that differ between the runs")
    expect(html).toMatch(/<code>optimizer\.lr<\/code><\/td><td class="value wrap"><code>0\.003<\/code><\/td><td class="value wrap"><code>0\.001<\/code>/)
    const single = (await report([fast])).html
    expect(single).toContain("<details open>")
    expect(single).not.toContain("Fields that differ")
  })
})

describe("sous report: errors", () => {
  it("names a directory that is not there, not a directory, or not a run", async () => {
    const dir = testDirectory("report-errors")
    expect((await failure([join(dir, "gone")])).message).toBe(`${join(dir, "gone")}: no such directory`)
    writeFileSync(join(dir, "file.txt"), "")
    expect((await failure([join(dir, "file.txt")])).message).toContain(`${join(dir, "file.txt")}: not a directory`)
    expect((await failure([dir])).message).toBe(`${dir}: not a run directory: it holds no recipe.json`)
  })

  it("names a missing or malformed file by its path, and a bad JSONL line by its number", async () => {
    const dir = copyOf(fast)
    const metrics = join(dir, "metrics.jsonl")
    const text = readFileSync(metrics, "utf8")
    writeFileSync(metrics, text.replace(/\n/, "\n{\"step\": 2, oops}\n"))
    const bad = await failure([dir])
    expect(bad).toMatchObject({ _tag: "ReportError", path: metrics, line: 2 })
    expect(bad.message).toMatch(new RegExp(`^${metrics}:2: the line is not valid JSON: `))
    writeFileSync(metrics, text.replace(/\n/, "\n[1, 2]\n"))
    expect((await failure([dir])).message).toBe(`${metrics}:2: the line is not a JSON object`)
    rmSync(metrics)
    expect((await failure([dir])).message).toBe(`${metrics}: missing the run's metrics`)

    const summary = join(copyOf(slow), "summary.json")
    writeFileSync(summary, "{\"steps\": 12,")
    expect((await failure([join(summary, "..")])).message).toMatch(new RegExp(`^${summary}: the run's summary is not valid JSON: `))

    const manifest = join(copyOf(fast, "other"), "checkpoints", "final", "manifest.json")
    writeFileSync(manifest, "")
    expect((await failure([join(manifest, "../../..")])).message).toMatch(new RegExp(`^${manifest}: checkpoint manifest is not valid JSON`))
  })

  it("refuses a pipeline none of whose stages started", async () => {
    const dir = copyOf(pipeline, "two-stage")
    rmSync(join(dir, "warmup"), { recursive: true })
    rmSync(join(dir, "finetune"), { recursive: true })
    expect((await failure([dir])).message).toBe(`${dir}: a pipeline none of whose stages has started (no <stage>/recipe.json)`)
  })
})

describe("sous report: the command", () => {
  it("writes --out and says where, with how many runs", async () => {
    const out = join(testDirectory("report-command"), "pages", "compare.html")
    const written: Array<string> = []
    const write = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk))
      return true
    })
    try {
      await Effect.runPromise(reportCommand(parseArgs(["report", fast, pipeline, "--out", out])))
    } finally {
      write.mockRestore()
    }
    expect(written).toEqual([`wrote ${out}: 3 runs (lr-3e-3, two-stage/warmup, two-stage/finetune)\n`])
    expect(pageData(readFileSync(out, "utf8")).runs.map((run) => run.name)).toEqual(["lr-3e-3", "two-stage/warmup", "two-stage/finetune"])
  })

  it("needs a run directory, and names a report it cannot write", async () => {
    expect(() => reportCommand(parseArgs(["report"]))).toThrow(UsageError)
    expect(() => reportCommand(parseArgs(["report"]))).toThrow("sous report needs a run directory")
    const dir = testDirectory("report-command")
    mkdirSync(join(dir, "taken.html"))
    const exit = await Effect.runPromiseExit(reportCommand(parseArgs(["report", fast, "--out", join(dir, "taken.html")])))
    expect(Exit.isFailure(exit) && describeCause(exit.cause, false)).toMatch(new RegExp(`^${join(dir, "taken.html")}: cannot write the report: `))
  })
})
