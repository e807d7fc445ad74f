/**
 * A job's recipe: the base model's fragment from the catalog, the job's data files, and its
 * hyperparameters mapped onto sous's fields (`batch_size` -> `training.batchSize`, with
 * `n_epochs` -> `training.steps`; `learning_rate_multiplier` times the model's `optimizer.lr`;
 * DPO's `beta` -> `preference.beta`). A checkpoint (and an evaluation when there is held-out data)
 * ends every epoch, as OpenAI's jobs keep one per epoch; each is also where a durable run's
 * segment ends. A job with `sous.recipe` runs that recipe, with only its data replaced.
 */
import { Effect } from "effect"
import { heldOutCount } from "../stages/index.js"
import { ApiError, invalidRequest } from "./api-error.js"
import type { CreateJobRequest, DpoHyperparameters, JobMethod, SupervisedHyperparameters } from "./job-request.js"
import type { FileRow } from "./jobs-store.js"
import type { ModelCatalog, RecipeFragment } from "./model-catalog.js"

/** The method as a job reports it: its type and the hyperparameters it ran with ("auto" resolved). */
export interface ResolvedMethod {
  readonly type: "supervised" | "dpo" | "reinforcement"
  readonly hyperparameters: Readonly<Record<string, number | string>>
}

/** What a job runs. */
export interface JobRecipe {
  /** The recipe, with data paths relative to its own file (`data/train.jsonl`, `data/validation.jsonl`). */
  readonly recipe: Readonly<Record<string, unknown>>
  readonly method: ResolvedMethod
}

/** The job's files, already checked to be the tenant's. */
export interface JobFiles {
  readonly training: FileRow
  readonly validation: FileRow | undefined
}

/** Paths of the data files beside the job's recipe. */
export const jobDataPaths = { train: "data/train.jsonl", eval: "data/validation.jsonl" } as const

// sous holds out this much of the training file for evaluation when no validation file is
// given: the recipe's default, which a job's recipe keeps (`data.evalFraction` is not set).
const heldOutFraction = 0.1
const defaultBatchSize = 16
const defaultLr = 1e-3

/** The requested method: `method`, or the older top-level `hyperparameters` as supervised. */
const requestedMethod = (request: CreateJobRequest): JobMethod =>
  request.method ?? { type: "supervised", supervised: { hyperparameters: request.hyperparameters ?? {} } }

const numberOr = <A>(value: A | "auto" | undefined, auto: A): A => (value === undefined || value === "auto" ? auto : value)

/** Examples one epoch trains on, as sous will split the file. */
const trainExamples = (files: JobFiles): number =>
  files.validation !== undefined
    ? files.training.line_count
    : files.training.line_count - heldOutCount(files.training.line_count, heldOutFraction)

const sectionOf = (fragment: RecipeFragment, key: string): Readonly<Record<string, unknown>> =>
  (fragment[key] as Readonly<Record<string, unknown>> | undefined) ?? {}

/** The training, optimizer, eval and checkpoint sections of the OpenAI hyperparameters. */
const scheduleSections = (
  fragment: RecipeFragment,
  hyperparameters: SupervisedHyperparameters,
  files: JobFiles
) => {
  const examples = trainExamples(files)
  const batchSize = numberOr(hyperparameters.batch_size, Math.max(1, Math.min(defaultBatchSize, examples)))
  const epochs = numberOr(hyperparameters.n_epochs, 1)
  const multiplier = numberOr(hyperparameters.learning_rate_multiplier, 1)
  const optimizer = sectionOf(fragment, "optimizer")
  const baseLr = typeof optimizer["lr"] === "number" ? optimizer["lr"] : defaultLr
  const stepsPerEpoch = Math.max(1, Math.ceil(examples / batchSize))
  return {
    resolved: { batch_size: batchSize, learning_rate_multiplier: multiplier, n_epochs: epochs },
    sections: {
      // Steps rather than epochs, so the run knows its length (progress, ETA) from the start.
      training: { steps: Math.max(1, Math.ceil((epochs * examples) / batchSize)), batchSize },
      optimizer: { ...optimizer, lr: baseLr * multiplier },
      eval: { ...sectionOf(fragment, "eval"), every: stepsPerEpoch },
      checkpoint: { ...sectionOf(fragment, "checkpoint"), every: stepsPerEpoch }
    }
  }
}

const needFormat = (files: JobFiles, format: FileRow["format"], method: string) =>
  Effect.forEach([["training_file", files.training], ["validation_file", files.validation]] as const, ([param, file]) =>
    file === undefined || file.format === format
      ? Effect.void
      : Effect.fail(invalidRequest(
        `File ${file.id} holds ${file.format} rows; a ${method} job needs ${format === "chat" ? "conversations ({\"messages\": [...]})" : "preference pairs"}.`,
        param,
        "invalid_file_format"
      )))

const dataSection = (files: JobFiles) =>
  files.validation === undefined ? { train: jobDataPaths.train } : { train: jobDataPaths.train, eval: jobDataPaths.eval }

/**
 * Builds the job's recipe. `base` is the model's fragment: from the catalog, or the resolved
 * sections of the job that made a fine-tuned model the job continues from.
 */
export const jobRecipe = (
  request: CreateJobRequest,
  base: RecipeFragment,
  files: JobFiles,
  jobId: string
): Effect.Effect<JobRecipe, ApiError> =>
  Effect.gen(function*() {
    const seed = request.seed ?? 0
    if (request.sous?.recipe !== undefined) {
      const recipe = request.sous.recipe
      const kind = typeof recipe["kind"] === "string" ? recipe["kind"] : "unknown"
      const data = { ...sectionOf(recipe, "data"), ...dataSection(files) }
      return { recipe: { ...recipe, data }, method: { type: kind === "preference" ? "dpo" : kind === "rl" ? "reinforcement" : "supervised", hyperparameters: {} } }
    }
    const method = requestedMethod(request)
    if (method.type === "reinforcement") {
      return yield* invalidRequest(
        "sous trains reinforcement jobs against an environment, not a grader: send the RL recipe in the `sous.recipe` field.",
        "method.type",
        "unsupported_method"
      )
    }
    const common = { name: jobId, seed, ...base }
    if (method.type === "supervised") {
      yield* needFormat(files, "chat", "supervised")
      const schedule = scheduleSections(base, method.supervised?.hyperparameters ?? {}, files)
      return {
        recipe: { kind: "supervised", ...common, data: dataSection(files), ...schedule.sections },
        method: { type: "supervised", hyperparameters: schedule.resolved }
      }
    }
    yield* needFormat(files, "preference", "dpo")
    const hyperparameters: DpoHyperparameters = method.dpo?.hyperparameters ?? {}
    const schedule = scheduleSections(base, hyperparameters, files)
    const beta = numberOr(hyperparameters.beta, 0.1)
    return {
      recipe: { kind: "preference", ...common, data: dataSection(files), ...schedule.sections, preference: { beta } },
      method: { type: "dpo", hyperparameters: { ...schedule.resolved, beta } }
    }
  })

/** The base of `model`: a catalog entry, or refused with the names there are. */
export const catalogModel = (catalog: ModelCatalog, model: string): Effect.Effect<RecipeFragment, ApiError> => {
  const fragment = catalog[model]
  return fragment !== undefined
    ? Effect.succeed(fragment)
    : Effect.fail(
      new ApiError({
        status: 404,
        message: `The model '${model}' does not exist. Models: ${Object.keys(catalog).join(", ")}, or a fine-tuned model of yours (ft:...).`,
        param: "model",
        code: "model_not_found"
      })
    )
}
