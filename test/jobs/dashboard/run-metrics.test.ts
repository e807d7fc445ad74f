import { appendFileSync, mkdirSync, renameSync, utimesSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { cachedRunPointsReader, readRunPoints, type RunPointsReader } from "../../../src/jobs/dashboard/run-metrics.js"
import { testDirectory } from "../../support/temp-directory.js"

// A durable run's directory as the segments leave it: committed lines in the run's files,
// live ones in the attempts' directories (see src/durable/segment/adopt-committed.ts).

const metric = (step: number, loss: number | null = 2 - step / 10) => JSON.stringify({ step, loss, lr: 0.001, tokens: 64, seconds: 0.1 })
const event = (name: string, step: number, data: Record<string, unknown>) =>
  JSON.stringify({ time: "2026-12-01T00:00:00.000Z", name, step, data })
const evaluation = (step: number, nll: number) => event("eval", step, { eval_nll: nll, eval_tokens: 100 })
const lines = (...texts: ReadonlyArray<string>) => texts.map((text) => `${text}\n`).join("")

const setModified = (file: string, secondsAgo: number) => {
  const time = new Date(Date.now() - secondsAgo * 1_000)
  utimesSync(file, time, time)
}

/**
 * Steps 1-4 committed (evaluations at 2 and 4); an old attempt that trained 1-6 and lost;
 * the live attempt, which resumed after step 2 and trained 3-7, evaluated at 4 and 6, and is
 * writing step 8 and an evaluation at 8.
 */
const makeRun = (): string => {
  const runDir = testDirectory("run-metrics")
  writeFileSync(join(runDir, "metrics.jsonl"), lines(...[1, 2, 3, 4].map((step) => metric(step))))
  writeFileSync(
    join(runDir, "events.jsonl"),
    lines(
      event("start", 0, {}),
      evaluation(2, 1.9),
      event("checkpoint", 2, { name: "step-00000002" }),
      evaluation(4, 1.7),
      event("checkpoint", 4, { name: "step-00000004" })
    )
  )
  const old = join(runDir, "attempts", "attempt-old")
  mkdirSync(old, { recursive: true })
  writeFileSync(join(old, "metrics.jsonl"), lines(...[1, 2, 3, 4, 5, 6].map((step) => metric(step, 9))))
  writeFileSync(join(old, "events.jsonl"), lines(evaluation(6, 9)))
  setModified(join(old, "metrics.jsonl"), 60)
  const live = join(runDir, "attempts", "attempt-live")
  mkdirSync(live)
  writeFileSync(join(live, "metrics.jsonl"), lines(...[3, 4, 5, 6, 7].map((step) => metric(step))) + `{"step":8,"lo`)
  writeFileSync(
    join(live, "events.jsonl"),
    lines(evaluation(4, 1.7), event("checkpoint", 4, { name: "step-00000004" }), evaluation(6, 1.5)) + `{"time":"2026`
  )
  setModified(join(live, "metrics.jsonl"), 1)
  return runDir
}

const steps = (points: ReadonlyArray<{ readonly step: number }>) => points.map((point) => point.step)

const readers: ReadonlyArray<readonly [string, () => RunPointsReader]> = [
  ["readRunPoints", () => readRunPoints],
  ["cachedRunPointsReader", cachedRunPointsReader]
]

describe.each(readers)("%s", (_, makeReader) => {
  it("reads the committed points, then the live attempt's past the last committed step", async () => {
    const runDir = makeRun()
    const points = await makeReader()(runDir)
    expect(points.train).toEqual([1, 2, 3, 4, 5, 6, 7].map((step) => ({ step, loss: 2 - step / 10 })))
    expect(points.eval).toEqual([{ step: 2, eval_nll: 1.9 }, { step: 4, eval_nll: 1.7 }, { step: 6, eval_nll: 1.5 }])
  })

  it("leaves a line being written for the next read, which sees it once complete", async () => {
    const runDir = makeRun()
    const read = makeReader()
    expect(steps((await read(runDir)).train).at(-1)).toBe(7)
    const live = join(runDir, "attempts", "attempt-live")
    appendFileSync(join(live, "metrics.jsonl"), `ss":1.2}\n`)
    appendFileSync(join(live, "events.jsonl"), `-12-01T00:00:00.000Z","name":"eval","step":8,"data":{"eval_nll":1.4}}\n`)
    const points = await read(runDir)
    expect(points.train.at(-1)).toEqual({ step: 8, loss: 1.2 })
    expect(points.eval.at(-1)).toEqual({ step: 8, eval_nll: 1.4 })
  })

  it("follows an adoption: the run's files replaced with more committed lines", async () => {
    const runDir = makeRun()
    const read = makeReader()
    await read(runDir)
    const next = join(runDir, "metrics.jsonl.next")
    writeFileSync(next, lines(...[1, 2, 3, 4, 5, 6].map((step) => metric(step))))
    renameSync(next, join(runDir, "metrics.jsonl"))
    appendFileSync(join(runDir, "events.jsonl"), lines(evaluation(6, 1.5)))
    const points = await read(runDir)
    expect(steps(points.train)).toEqual([1, 2, 3, 4, 5, 6, 7])
    expect(steps(points.eval)).toEqual([2, 4, 6])
  })

  it("takes the attempt whose metrics changed last as the live one", async () => {
    const runDir = makeRun()
    setModified(join(runDir, "attempts", "attempt-old", "metrics.jsonl"), 0)
    const points = await makeReader()(runDir)
    expect(points.train.slice(4)).toEqual([{ step: 5, loss: 9 }, { step: 6, loss: 9 }])
    expect(points.eval.at(-1)).toEqual({ step: 6, eval_nll: 9 })
  })

  it("skips lines without a numeric loss or eval_nll", async () => {
    const runDir = testDirectory("run-metrics")
    writeFileSync(join(runDir, "metrics.jsonl"), lines(metric(1), metric(2, null), JSON.stringify({ step: 3 }), "[1]", metric(4)))
    writeFileSync(join(runDir, "events.jsonl"), lines(event("eval", 2, { eval_accuracy: 0.5 }), event("sample", 3, { eval_nll: 1 })))
    const points = await makeReader()(runDir)
    expect(steps(points.train)).toEqual([1, 4])
    expect(points.eval).toEqual([])
  })

  it("reads a run that has written nothing yet, or does not exist, as no points", async () => {
    const runDir = testDirectory("run-metrics")
    const read = makeReader()
    expect(await read(runDir)).toEqual({ train: [], eval: [] })
    mkdirSync(join(runDir, "attempts", "first"), { recursive: true })
    expect(await read(runDir)).toEqual({ train: [], eval: [] })
    expect(await read(join(runDir, "missing"))).toEqual({ train: [], eval: [] })
  })

  it("reads an attempt's lines before any commit", async () => {
    const runDir = testDirectory("run-metrics")
    const attempt = join(runDir, "attempts", "first")
    mkdirSync(attempt, { recursive: true })
    writeFileSync(join(attempt, "metrics.jsonl"), lines(metric(1), metric(2)))
    const points = await makeReader()(runDir)
    expect(steps(points.train)).toEqual([1, 2])
  })
})
