/**
 * The skeleton every run shares: the stage type and its state keys, the keys every workflow
 * reads (recipe facts, data, step metrics, summary), the run length, per-step metric logging
 * with its guard against divergence, and the final summary.
 */
export * from "./diverged.js"
export * from "./log-metrics.js"
export * from "./run-keys.js"
export * from "./run-length.js"
export * from "./stage.js"
export * from "./state-key.js"
export * from "./write-summary.js"
