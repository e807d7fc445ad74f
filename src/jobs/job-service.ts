/**
 * What the job service does, one function per API operation, each for one tenant: upload and
 * read files, create a job (its recipe and data written beside it, its durable run queued),
 * read jobs, their events and checkpoints, and pause, resume or cancel them through their
 * runs. Each needs the runs database's `SqlClient` and the files' `BlobStore`; none knows HTTP.
 */
import { randomBytes } from "node:crypto"
import { mkdir, rm, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { Effect } from "effect"
import {
  cancelRunRow,
  pauseRunRow,
  resumeRunRow,
  type RunStatus,
  runStatusRow,
  submitRunRow
} from "../durable/runs.js"
import { runEvents } from "../durable/run-store.js"
import { readJsonlLines } from "../durable/segment/jsonl-lines.js"
import { loadRunRecipe } from "../durable/segment/run-recipe.js"
import { BlobStore } from "../ports/index.js"
import { describeFailure } from "../ports/describe-error.js"
import { messageOf } from "../ports/thrown-message.js"
import { ApiError, invalidRequest, notFound } from "./api-error.js"
import { jobCheckpoints } from "./job-checkpoints.js"
import { jobEvents, pageAfter } from "./job-events.js"
import { fineTunedModelName, jobIdOfModel, jobObject } from "./job-object.js"
import { catalogModel, jobDataPaths, jobRecipe } from "./job-recipe.js"
import type { CreateJobRequest } from "./job-request.js"
import { findFile, findJob, type FileRow, insertFile, insertJob, type JobRow, pageJobs } from "./jobs-store.js"
import type { ModelCatalog, RecipeFragment } from "./model-catalog.js"
import { tenantRecipeRefusal } from "./recipe-policy.js"
import { checkTrainingFile, datasetJsonl } from "./training-file.js"

/** Where the service keeps jobs and which models it offers. */
export interface JobServiceConfig {
  /** Jobs' directories (recipe, data, run) go under `<home>/jobs/<job id>`. */
  readonly home: string
  readonly catalog: ModelCatalog
}

const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}${randomBytes(6).toString("hex")}`

const seconds = (millis: number) => Math.floor(millis / 1000)

/**
 * Failures that are the server's, not the request's: a 500 that says what could not be done
 * and keeps its cause for the server's log (paths and database errors are not the client's).
 */
const internal = (what: string) => (cause: unknown) =>
  new ApiError({ status: 500, message: `The server could not ${what}; its log has the cause.`, param: null, code: "internal_error", cause })

const fileKey = (id: string) => `${id}.jsonl`

/** OpenAI's `file` object. */
export const fileObject = (file: FileRow) => ({
  object: "file" as const,
  id: file.id,
  bytes: file.bytes,
  created_at: seconds(file.created_at),
  filename: file.filename,
  purpose: file.purpose,
  status: "processed" as const,
  status_details: null,
  expires_at: null
})

/**
 * Stores an upload after checking every line (`fine-tune` files only): a bad row is a 400
 * naming its line, and nothing is stored.
 */
export const uploadFile = (tenant: string, upload: { readonly filename: string; readonly purpose: string; readonly bytes: Uint8Array }) =>
  Effect.gen(function*() {
    if (upload.purpose !== "fine-tune") {
      return yield* invalidRequest(`purpose must be 'fine-tune' (this server keeps fine-tuning files only), got '${upload.purpose}'`, "purpose")
    }
    let text: string
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(upload.bytes)
    } catch {
      return yield* invalidRequest(`${upload.filename} is not UTF-8 text`, "file", "invalid_file")
    }
    const checked = checkTrainingFile(text)
    if ("problems" in checked) {
      return yield* invalidRequest(`${upload.filename} is not a valid fine-tuning file: ${checked.problems.join("; ")}`, "file", "invalid_file")
    }
    const row: FileRow = {
      id: newId("file"),
      tenant,
      filename: upload.filename,
      purpose: upload.purpose,
      bytes: upload.bytes.byteLength,
      format: checked.ok.format,
      line_count: checked.ok.rows,
      created_at: Date.now()
    }
    yield* (yield* BlobStore).put(fileKey(row.id), upload.bytes).pipe(Effect.mapError(internal(`store ${row.id}`)))
    yield* insertFile(row)
    return fileObject(row)
  })

/** The tenant's file, or 404. */
export const getFile = (tenant: string, id: string) =>
  Effect.flatMap(findFile(tenant, id), (file) => (file === undefined ? Effect.fail(notFound("file", id)) : Effect.succeed(file)))

/** The bytes of the tenant's file, as uploaded. */
export const fileContent = (tenant: string, id: string) =>
  Effect.gen(function*() {
    const file = yield* getFile(tenant, id)
    return yield* (yield* BlobStore).get(fileKey(file.id)).pipe(Effect.mapError(internal(`read ${id}`)))
  })

const jobFile = (tenant: string, id: string, param: string) =>
  Effect.flatMap(findFile(tenant, id), (file) =>
    file === undefined ? Effect.fail(invalidRequest(`No file found with id '${id}'.`, param, "invalid_file")) : Effect.succeed(file))

/**
 * The base a job continues from when its model is a fine-tuned one of the tenant's: that
 * job's resolved model, tokenizer, renderer, optimizer and backend, starting from its `final`
 * checkpoint.
 */
const fineTunedBase = (tenant: string, model: string, jobId: string) =>
  Effect.gen(function*() {
    const job = yield* findJob(tenant, jobId)
    const run = job === undefined ? undefined : yield* runStatusRow(job.run_id).pipe(Effect.orDie)
    if (job === undefined || run === undefined || run.state !== "succeeded" || fineTunedModelName(job) !== model) {
      return yield* new ApiError({ status: 404, message: `The model '${model}' does not exist.`, param: "model", code: "model_not_found" })
    }
    const recipe = yield* loadRunRecipe(run.run_dir).pipe(Effect.mapError(internal(`read the recipe of ${job.id}`)))
    if (!("model" in recipe) || !("renderer" in recipe)) {
      return yield* invalidRequest(`${model} is not a chat model`, "model")
    }
    const store = recipe.checkpoint.uri ?? join(run.run_dir, "checkpoints")
    return {
      model: { ...recipe.model, from: { store, checkpoint: "final" } },
      tokenizer: recipe.tokenizer,
      renderer: recipe.renderer,
      optimizer: recipe.optimizer,
      backend: recipe.backend
    } satisfies RecipeFragment
  })

const jobView = (job: JobRow) =>
  Effect.gen(function*() {
    const run = yield* runStatusRow(job.run_id).pipe(Effect.orDie)
    return jobObject(job, run, run.state === "succeeded" ? yield* trainedTokens(run) : null)
  })

// Jobs list newest first by creation time: two jobs created in one millisecond by this
// process still get distinct, ordered times.
let lastCreatedAt = 0
const creationTime = () => (lastCreatedAt = Math.max(Date.now(), lastCreatedAt + 1))

// Tokens trained are summed from a finished run's metrics once; they never change after.
const tokensOfRun = new Map<string, number>()

const trainedTokens = (run: RunStatus) =>
  Effect.promise(async () => {
    const known = tokensOfRun.get(run.id)
    if (known !== undefined) return known
    const lines = await readJsonlLines(join(run.run_dir, "metrics.jsonl"))
    const total = lines.reduce((sum, line) => sum + (typeof line.value["tokens"] === "number" ? line.value["tokens"] : 0), 0)
    tokensOfRun.set(run.id, total)
    return total
  })

/** The tenant's job, or 404. */
export const getJob = (tenant: string, id: string) =>
  Effect.flatMap(findJob(tenant, id), (job) => (job === undefined ? Effect.fail(notFound("fine-tuning job", id)) : Effect.succeed(job)))

/** The tenant's job object, or 404. */
export const retrieveJob = (tenant: string, id: string) => Effect.flatMap(getJob(tenant, id), jobView)

/**
 * Creates a job: checks its files and model, writes `<home>/jobs/<id>/` (the recipe, the
 * data in the shape the recipe reads, the run directory) and queues its durable run. A
 * recipe that fails sous's checks is a 400 with what is wrong, and leaves nothing behind.
 */
export const createJob = (tenant: string, request: CreateJobRequest, config: JobServiceConfig) =>
  Effect.gen(function*() {
    const refusal = tenantRecipeRefusal(request.sous)
    if (refusal !== undefined) return yield* refusal
    const training = yield* jobFile(tenant, request.training_file, "training_file")
    const validation = request.validation_file == null ? undefined : yield* jobFile(tenant, request.validation_file, "validation_file")
    const fineTuned = jobIdOfModel(request.model)
    const base = fineTuned === undefined ? yield* catalogModel(config.catalog, request.model) : yield* fineTunedBase(tenant, request.model, fineTuned)
    const id = newId("ftjob")
    const { recipe, method } = yield* jobRecipe(request, base, { training, validation }, id)
    const directory = join(config.home, "jobs", id)
    const store = yield* BlobStore
    const write = (path: string, file: FileRow) =>
      Effect.flatMap(store.get(fileKey(file.id)).pipe(Effect.mapError(internal(`read ${file.id}`))), (bytes) =>
        Effect.tryPromise({
          try: () => writeFile(join(directory, path), datasetJsonl(new TextDecoder().decode(bytes))),
          catch: internal(`write the data of ${id}`)
        }))
    const submit = Effect.gen(function*() {
      yield* Effect.tryPromise({ try: () => mkdir(join(directory, "data"), { recursive: true }), catch: internal(`create the directory of ${id}`) })
      yield* write(jobDataPaths.train, training)
      if (validation !== undefined) yield* write(jobDataPaths.eval, validation)
      const recipeFile = join(directory, "recipe.json")
      yield* Effect.tryPromise({ try: () => writeFile(recipeFile, JSON.stringify(recipe, null, 2)), catch: internal(`write the recipe of ${id}`) })
      return yield* submitRunRow(recipeFile, { runDir: join(directory, "run"), sets: request.sous?.set }).pipe(
        Effect.mapError((error) =>
          error._tag === "SqlError" ? internal("queue the run")(error) : invalidRequest(`the job's recipe is refused: ${describeFailure(error)}`, null, "invalid_recipe")
        )
      )
    })
    const runId = yield* submit.pipe(
      Effect.tapError(() => Effect.promise(() => rm(directory, { recursive: true, force: true }).catch(() => undefined)))
    )
    const job: JobRow = {
      id,
      tenant,
      run_id: runId,
      model: request.model,
      training_file: training.id,
      validation_file: validation?.id ?? null,
      method_json: JSON.stringify(method),
      metadata_json: request.metadata == null ? null : JSON.stringify(request.metadata),
      suffix: request.suffix ?? null,
      seed: request.seed ?? 0,
      created_at: creationTime()
    }
    yield* insertJob(job)
    return yield* jobView(job)
  })

/** A page of the tenant's jobs, newest first. */
export const listJobs = (tenant: string, options: { readonly limit: number; readonly after?: string | undefined }) =>
  Effect.gen(function*() {
    const page = yield* pageJobs(tenant, options)
    const data = yield* Effect.forEach(page.jobs, jobView)
    return { object: "list" as const, data, has_more: page.hasMore }
  })

/** A page of the job's events, newest first. */
export const listJobEvents = (tenant: string, id: string, options: { readonly limit: number; readonly after?: string | undefined }) =>
  Effect.gen(function*() {
    const job = yield* getJob(tenant, id)
    const run = yield* runStatusRow(job.run_id).pipe(Effect.orDie)
    const log = yield* runEvents(run.id)
    const events = yield* Effect.tryPromise({
      try: () => jobEvents(run.id, run.run_dir, log, run.total_steps),
      catch: internal(`read the events of ${id}`)
    })
    const page = pageAfter(events, options)
    return { object: "list" as const, data: page.data, has_more: page.hasMore }
  })

/** A page of the job's checkpoints, newest first. */
export const listJobCheckpoints = (tenant: string, id: string, options: { readonly limit: number; readonly after?: string | undefined }) =>
  Effect.gen(function*() {
    const job = yield* getJob(tenant, id)
    const run = yield* runStatusRow(job.run_id).pipe(Effect.orDie)
    const checkpoints = yield* jobCheckpoints(job.id, run.run_dir, fineTunedModelName(job)).pipe(
      Effect.mapError(internal(`read the checkpoints of ${id}`))
    )
    const page = pageAfter(checkpoints, options)
    return {
      object: "list" as const,
      data: page.data,
      has_more: page.hasMore,
      first_id: page.data[0]?.id ?? null,
      last_id: page.data.at(-1)?.id ?? null
    }
  })

/** Runs a control of the job's run and answers the job; a control the run's state refuses is a 400. */
const control = <E, R>(tenant: string, id: string, act: (runId: string) => Effect.Effect<void, E, R>) =>
  Effect.gen(function*() {
    const job = yield* getJob(tenant, id)
    yield* act(job.run_id).pipe(
      Effect.mapError((error) =>
        typeof error === "object" && error !== null && "_tag" in error && error._tag === "RunControlError"
          ? invalidRequest(messageOf(error).replace(job.run_id, `job ${id}`), null, "invalid_state")
          : internal(`change ${id}`)(error)
      )
    )
    return yield* jobView(job)
  })

/** Cancels the job: its run stops (committed checkpoints stay) and ends `cancelled`. */
export const cancelJob = (tenant: string, id: string) => control(tenant, id, (runId) => cancelRunRow(runId))

/** Pauses the job: its run checkpoints now and waits. */
export const pauseJob = (tenant: string, id: string) => control(tenant, id, pauseRunRow)

/** Resumes a paused job. */
export const resumeJob = (tenant: string, id: string) => control(tenant, id, resumeRunRow)
