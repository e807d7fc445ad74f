/**
 * `sous report`: one self-contained HTML page of one or more run directories (loss, learning
 * rate, gradient norm and every eval measure against steps, recipes, checkpoints, timing).
 */
import { mkdir, writeFile } from "node:fs/promises"
import { dirname } from "node:path"
import { Effect } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { readRunDirectories } from "./read-runs.js"
import { type ReportError, reportError } from "./report-error.js"
import { type ReportModel, reportModel } from "./report-model.js"
import { reportPage } from "./report-page.js"

export { type CheckpointRow } from "./read-checkpoints.js"
export { readRunDirectories, readRunDirectory, type RunFiles } from "./read-runs.js"
export { type RecipeDifference } from "./recipe-differences.js"
export { type Chart } from "./report-charts.js"
export { ReportError } from "./report-error.js"
export { type ReportModel, reportModel, type ReportRun, type RunTiming } from "./report-model.js"
export { reportPage } from "./report-page.js"

/** The report of the run directories `dirs` (a pipeline's stands for its stages): its model and its page. */
export const buildReport = (dirs: ReadonlyArray<string>): Effect.Effect<{ readonly model: ReportModel; readonly html: string }, ReportError> =>
  Effect.map(readRunDirectories(dirs), (runs) => {
    const model = reportModel(runs)
    return { model, html: reportPage(model) }
  })

/** Writes the report of `dirs` to the file `out` (making its directory) and answers its model. */
export const writeReport = (dirs: ReadonlyArray<string>, out: string): Effect.Effect<ReportModel, ReportError> =>
  Effect.flatMap(buildReport(dirs), ({ html, model }) =>
    Effect.as(
      Effect.tryPromise({
        try: async () => {
          await mkdir(dirname(out), { recursive: true })
          await writeFile(out, html)
        },
        catch: (error) => reportError(out, `cannot write the report: ${messageOf(error)}`, { cause: error })
      }),
      model
    ))
