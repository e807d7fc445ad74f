/**
 * The tinker adapter: a client of the Tinker HTTP training protocol, for Tinker itself or a
 * `sous serve` server. `tinkerBackendLayer` is what the composition root uses.
 */
export { makeTinkerBackend, tinkerBackendLayer } from "./tinker-backend.js"
export {
  defaultTinkerBaseUrl,
  printableUrl,
  type TinkerBackendOptions,
  type TinkerBillingOptions,
  type TinkerChunkLimits,
  type TinkerRetryOptions,
  tinkerBaseUrlProblem
} from "./tinker-options.js"
