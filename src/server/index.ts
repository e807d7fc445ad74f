/**
 * `sous serve`: any `TrainingBackend` (the local one by default) over the Tinker HTTP
 * protocol, for the `tinker` adapter and the official Python SDK.
 *
 * Endpoints (under `/api/v1`): `client/config`, `client/dynamic_config`, `create_session`,
 * `session_heartbeat`, `get_server_capabilities`, `healthz`, `telemetry`, `create_model`,
 * `get_info`, `unload_model`, `forward_backward` (protobuf, optionally zstd), `optim_step`,
 * `save_weights`, `save_weights_for_sampler`, `load_weights`, `create_sampling_session`,
 * `asample` and `retrieve_future`. A model's requests run in `seq_id` order, each once;
 * submissions replay their first answer for a repeated `X-Idempotency-Key`. Each API key sees
 * only what it made, within its quota and the server's memory budget; what stays idle expires.
 */
export { type RunningServer, ServeError, startServer } from "./serve.js"
export type { RequestLogEntry, ServerOptions } from "./server-options.js"
export { ApiKeyConfig, type KeyQuota, KeysFile, readKeysFile } from "./api-keys.js"
export type { ServerStatsSnapshot } from "./server-stats.js"
export { type FaultKind, type FaultOptions, makeFaultPlan } from "./fault-injection.js"
