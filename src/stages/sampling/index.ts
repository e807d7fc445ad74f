/**
 * Sampling from a policy: completions for prompts, seeds derived from the run's position
 * (so resume needs no RNG state), and a sampler over the current weights.
 */
export * from "./policy-sampler.js"
export * from "./sample-completions.js"
export * from "./sample-prompts.js"
export * from "./sample-seed.js"
