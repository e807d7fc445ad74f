/**
 * Stages, grouped by concern. A stage is an Effect over ports that reads and writes declared
 * keys of the run state; each folder also holds the pure helpers its stages share.
 */
export * from "./run/index.js"
export * from "./data/index.js"
export * from "./rendering/index.js"
export * from "./training/index.js"
export * from "./evaluation/index.js"
export * from "./checkpoints/index.js"
export * from "./sampling/index.js"
export * from "./rl/index.js"
export * from "./preference/index.js"
export * from "./distill/index.js"
export * from "./publish/index.js"
