import type { Metrics } from "../../ports/index.js"
import type { RunSummary } from "../run/run-keys.js"

/**
 * The summary with one more evaluation: the first is kept, the last replaced, and the best
 * replaced when `better(metrics, best)` says so (by default, a lower `eval_nll`).
 * Every eval stage keeps its numbers in the summary through this one function.
 */
export const withEval = (
  summary: RunSummary,
  step: number,
  metrics: Metrics,
  better: (candidate: Metrics, best: Metrics) => boolean = (candidate, best) => candidate["eval_nll"]! < best["eval_nll"]!
): RunSummary => {
  const entry = { step, metrics }
  const best = summary.bestEval === undefined || better(metrics, summary.bestEval.metrics)
  return {
    ...summary,
    firstEval: summary.firstEval ?? entry,
    lastEval: entry,
    bestEval: best ? entry : summary.bestEval
  }
}
