/**
 * Checkpoints: writing one (blobs first, manifest last), the store layout and index,
 * retention, restoring the newest committed one, refusing to overwrite a run, and the run
 * state a checkpoint carries.
 */
export * from "./checkpoint-retention.js"
export * from "./checkpoint-store.js"
export * from "./checkpoint.js"
export * from "./durable-run-state.js"
export * from "./require-new-checkpoints.js"
export * from "./restore-checkpoint.js"
