/**
 * A job as the API shows it: OpenAI's `fine_tuning.job` object built from the job's row and
 * its durable run's row, so the status is always the run's. sous adds a `sous` field with the
 * run's id and progress.
 */
import type { RunStatus } from "../durable/runs.js"
import type { ResolvedMethod } from "./job-recipe.js"
import type { JobRow } from "./jobs-store.js"

/** OpenAI's job statuses; `validating_files` never shows here, files are checked on upload. */
export type JobStatus = "queued" | "running" | "paused" | "succeeded" | "failed" | "cancelled"

const seconds = (millis: number): number => Math.floor(millis / 1000)

/** The base model's name, also for a job that continued a fine-tuned model (`ft:<base>:...`). */
const baseName = (model: string): string => (model.startsWith("ft:") ? model.split(":")[1] ?? model : model)

/** The name of the model a succeeded job made: `ft:<base>:<tenant>:<suffix>:<job id>`. */
export const fineTunedModelName = (job: JobRow): string => `ft:${baseName(job.model)}:${job.tenant}:${job.suffix ?? ""}:${job.id}`

/** The job id a fine-tuned model's name ends with, if it is one. */
export const jobIdOfModel = (model: string): string | undefined =>
  model.startsWith("ft:") ? model.slice(model.lastIndexOf(":") + 1) : undefined

/** The job object. `trainedTokens` is known once the job succeeded. */
export const jobObject = (job: JobRow, run: RunStatus, trainedTokens: number | null) => {
  const method = JSON.parse(job.method_json) as ResolvedMethod
  // A queued run asked to pause pauses before its first segment: to the client it is paused.
  const status: JobStatus = run.state === "queued" && run.control === "pause" ? "paused" : run.state
  return {
    object: "fine_tuning.job",
    id: job.id,
    model: job.model,
    created_at: seconds(job.created_at),
    finished_at: run.finished_at === null ? null : seconds(run.finished_at),
    fine_tuned_model: status === "succeeded" ? fineTunedModelName(job) : null,
    organization_id: job.tenant,
    result_files: [],
    status,
    validation_file: job.validation_file,
    training_file: job.training_file,
    hyperparameters: method.hyperparameters,
    method: { type: method.type, [method.type]: { hyperparameters: method.hyperparameters } },
    trained_tokens: trainedTokens,
    error: status === "failed" ? { code: "run_failed", message: run.last_error ?? "the run failed", param: null } : null,
    estimated_finish: run.etaSeconds === undefined ? null : seconds(Date.now() + run.etaSeconds * 1000),
    integrations: null,
    seed: job.seed,
    metadata: job.metadata_json === null ? null : JSON.parse(job.metadata_json) as Record<string, string>,
    user_provided_suffix: job.suffix,
    sous: {
      run_id: run.id,
      step: run.step,
      total_steps: run.total_steps,
      steps_per_second: run.steps_per_second,
      last_checkpoint: run.last_checkpoint
    }
  }
}
