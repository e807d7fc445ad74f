/**
 * The built-in adapters, as the layers and constructors a composition root needs. The plain
 * TensorFlow.js pieces of the local backend are the `sous/local` subpath export.
 */
export { type LocalBackendOptions, localBackendLayer, makeLocalBackend } from "./local/index.js"
export { type LocalDevice } from "./local/index.js"
export { fsBlobStoreLayer, makeFsBlobStore } from "./blob/fs-blob-store.js"
export { makeMemoryBlobStore, memoryBlobStoreLayer } from "./blob/memory-blob-store.js"
export { jsonlFileSource, jsonlFileSourceLayer } from "./datasets/jsonl-file-source.js"
export { combinedMetricsSinkLayer, combineSinks } from "./metrics/combine-sinks.js"
export { jsonlMetricsSinkLayer, makeJsonlMetricsSink } from "./metrics/jsonl-metrics-sink.js"
export { logMetricsSink, logMetricsSinkLayer } from "./metrics/log-metrics-sink.js"
export * from "./metrics/memory-metrics-sink.js"
export { byteTokenizerLayer, defaultByteSpecialTokens, makeByteTokenizer } from "./tokenizers/byte-tokenizer.js"
export { makePinoLogger, type PinoLoggerOptions, pinoLoggerLayer } from "./logging/pino-logger.js"
