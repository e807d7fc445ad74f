/**
 * Held-out evaluation of any kind: batched forward passes, negative log-likelihood,
 * classification accuracy, sampled replies scored against references, and how evals are
 * kept in the summary.
 */
export * from "./eval-summary.js"
export * from "./evaluate-accuracy.js"
export * from "./evaluate-nll.js"
export * from "./evaluate-sampled.js"
export * from "./forward-batches.js"
