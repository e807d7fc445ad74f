/**
 * The built-in adapters, as the layers and constructors a composition root needs. The plain
 * TensorFlow.js pieces of the local backend are the `sous/local` subpath export.
 */
export { type LocalBackendOptions, localBackendLayer, makeLocalBackend } from "./local/local-backend.js"
export { type LocalDevice } from "./local/tf-runtime.js"
export { makeTinkerBackend, type TinkerBackendOptions, tinkerBackendLayer } from "./tinker/index.js"
export { fsBlobStoreLayer, makeFsBlobStore } from "./blob/fs-blob-store.js"
export { makeMemoryBlobStore, memoryBlobStoreLayer } from "./blob/memory-blob-store.js"
export { jsonlFileSource, jsonlFileSourceLayer } from "./datasets/jsonl-file-source.js"
export { combinedMetricsSinkLayer, combineSinks } from "./metrics/combine-sinks.js"
export { jsonlMetricsSinkLayer, makeJsonlMetricsSink } from "./metrics/jsonl-metrics-sink.js"
export { logMetricsSink, logMetricsSinkLayer } from "./metrics/log-metrics-sink.js"
export * from "./metrics/memory-metrics-sink.js"
export { tolerantSink, type TrackerSink } from "./metrics/tolerant-sink.js"
export { type MlflowRunTracker, type MlflowTrackerOptions, openMlflowTracker } from "./metrics/mlflow/mlflow-sink.js"
export { mlflowKey, mlflowLimits } from "./metrics/mlflow/mlflow-limits.js"
export { makeTensorboardSink } from "./metrics/tensorboard/tensorboard-sink.js"
export { byteTokenizerLayer, defaultByteSpecialTokens, makeByteTokenizer } from "./tokenizers/byte-tokenizer.js"
export { makeHfTokenizer, TokenizerLoadError } from "./tokenizers/hf-tokenizer.js"
export { makePinoLogger, type PinoLoggerOptions, pinoLoggerLayer } from "./logging/pino-logger.js"
export { makeS3BlobStore, s3BlobStoreLayer, type S3BlobStoreOptions } from "./blob/s3-blob-store.js"
export { type S3ClientSettings, type S3Connection, type S3Credentials } from "./blob/s3-client.js"
export { parseS3Uri, type S3Location } from "./blob/s3-uri.js"
export { makeS3JsonlSource, s3JsonlSourceLayer } from "./datasets/s3-jsonl-source.js"
export { datasetSourceByScheme } from "./datasets/dataset-source-by-scheme.js"
export {
  type HubBlobStore,
  type HubBlobStoreOptions,
  hubBlobStoreLayer,
  makeHubBlobStore
} from "./hub/hub-blob-store.js"
export { hubJsonlSourceLayer, makeHubJsonlSource } from "./hub/hub-jsonl-source.js"
export { type HubPublisherOptions, hubPublisherLayer, makeHubPublisher } from "./hub/hub-publisher.js"
export { type HubAccessOptions } from "./hub/hub-client.js"
export { formatHubUri, type HubLocation, type HubRepoType, parseHubUri } from "./hub/hub-uri.js"
export { HubRequestError } from "./hub/hub-request-error.js"
export {
  OtlpTelemetry,
  otlpTelemetryLayer,
  type OtlpTelemetryOptions,
  otlpTrackerLabel
} from "./telemetry/otlp-telemetry.js"
export { parseOtlpHeaders } from "./telemetry/otlp-headers.js"
export {
  decodeSafetensors,
  encodeSafetensors,
  type SafeDtype,
  type SafeTensor,
  type SafetensorsContents,
  SafetensorsError
} from "./hf-model/safetensors.js"
export {
  type HfModelDirectory,
  HfModelDirectoryError,
  type HfWeightFile,
  readHfModelDirectory
} from "./hf-model/model-directory.js"
