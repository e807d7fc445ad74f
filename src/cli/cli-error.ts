import type { TokenizerLoadError } from "../adapters/index.js"
import type { SqlError } from "effect/sql"
import type { RunControlError, RunNotFoundError, WorkerLockError } from "../durable/run-errors.js"
import type { SegmentInputError } from "../durable/segment/segment-errors.js"
import type { RunDirectoryError } from "../kitchen/run-directory.js"
import type {
  BackendUnavailableError,
  BlobNotFoundError,
  BlobStoreError,
  DatasetError,
  DatasetRowError,
  HubError,
  InvalidRequestError,
  MetricsError,
  ResumeRefusedError,
  TrainingError,
  UnsafeKeyError
} from "../ports/index.js"
import type { RecipeError } from "../recipes/recipe-error.js"
import type { ServeError } from "../server/index.js"
import type { CheckpointDamagedError, DivergedError, LrScheduleError, RendererError } from "../stages/index.js"
import type { StageTimeoutError, WorkflowInvalidError } from "../workflows/index.js"
import type { JobsServeError } from "../jobs/serve-jobs.js"
import type { ModelCatalogError } from "../jobs/model-catalog.js"
import type { TenantsFileError } from "../jobs/tenants.js"
import type { WebhookEventNotFound } from "../jobs/webhooks/index.js"
import type { UsageError } from "./args.js"
import type { ReportError } from "./report/report-error.js"

/**
 * Every error a `sous` command can fail with: what the recipe, data, stores, backend and run
 * directory report, a run directory `sous report` cannot read, and a refused command line.
 * The commands are typed to fail with these only, so a new error a command can raise fails
 * to compile until it is added here, and
 * `describeError` gives each one its line.
 */
export type CliError =
  | BackendUnavailableError
  | BlobNotFoundError
  | BlobStoreError
  | CheckpointDamagedError
  | DatasetError
  | DatasetRowError
  | DivergedError
  | HubError
  | InvalidRequestError
  | JobsServeError
  | LrScheduleError
  | MetricsError
  | ModelCatalogError
  | RecipeError
  | RendererError
  | ReportError
  | ResumeRefusedError
  | RunControlError
  | RunDirectoryError
  | RunNotFoundError
  | SegmentInputError
  | ServeError
  | SqlError.SqlError
  | StageTimeoutError
  | TenantsFileError
  | TokenizerLoadError
  | TrainingError
  | UnsafeKeyError
  | UsageError
  | WebhookEventNotFound
  | WorkerLockError
  | WorkflowInvalidError
