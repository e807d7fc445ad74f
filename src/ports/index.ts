/**
 * The ports: every contract an adapter implements (training and sampling backends, tokenizer,
 * datasets, blob store, hub, metrics, RL environments, starting and teacher weights) and the
 * data vocabulary they speak. Imports only effect.
 */
export * from "./adam-params.js"
export * from "./blob-store.js"
export * from "./chat.js"
export * from "./checkpoint-manifest.js"
export * from "./dataset-source.js"
export * from "./datum.js"
export * from "./environment.js"
export * from "./errors.js"
export * from "./hub.js"
export * from "./loss.js"
export * from "./metrics-sink.js"
export * from "./model-architecture.js"
export * from "./model-input.js"
export * from "./pending.js"
export * from "./sampling-client.js"
export * from "./sampling-params.js"
export * from "./tensor-data.js"
export * from "./tokenizer.js"
export * from "./training-backend.js"
export * from "./training-client.js"
export * from "./schema-problems.js"
export * from "./uri.js"
export * from "./weights-sources.js"
