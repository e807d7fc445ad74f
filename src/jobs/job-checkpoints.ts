/**
 * A job's checkpoints, as OpenAI's `fine_tuning.job.checkpoint` objects, newest first: the
 * committed checkpoints of its run's store (one per epoch, and `final`), each with the step,
 * the metrics its manifest recorded, and a model name that names it.
 */
import { Effect } from "effect"
import { loadRunRecipe } from "../durable/segment/run-recipe.js"
import { checkpointStoreLayer } from "../kitchen/sources.js"
import { BlobStore } from "../ports/index.js"
import { committedNames, readManifest } from "../stages/index.js"

/** One checkpoint. */
export interface JobCheckpoint {
  readonly object: "fine_tuning.job.checkpoint"
  readonly id: string
  readonly created_at: number
  readonly fine_tuned_model_checkpoint: string
  readonly step_number: number
  readonly metrics: Readonly<Record<string, number>>
  readonly fine_tuning_job_id: string
}

/** A manifest's metrics under OpenAI's names (`train_loss`, `valid_loss`), and sous's own beside them. */
const openAiMetrics = (step: number, metrics: Readonly<Record<string, number>>): Record<string, number> => ({
  step,
  ...metrics,
  ...(metrics["loss"] === undefined ? {} : { train_loss: metrics["loss"] }),
  ...(metrics["eval_nll"] === undefined ? {} : { valid_loss: metrics["eval_nll"] })
})

/** The model name of one checkpoint: the job's model name with the checkpoint's step. */
const checkpointModelName = (fineTunedModel: string, step: number) => `${fineTunedModel}:ckpt-step-${step}`

/**
 * The committed checkpoints of the run in `runDir`, newest first. `fineTunedModel` is the
 * name the job's model has (or will have).
 */
export const jobCheckpoints = (jobId: string, runDir: string, fineTunedModel: string) =>
  Effect.gen(function*() {
    const recipe = yield* loadRunRecipe(runDir)
    return yield* Effect.gen(function*() {
      const store = yield* BlobStore
      const manifests = yield* Effect.forEach(yield* committedNames(store), (name) => readManifest(store, name))
      return manifests
        .map((manifest): JobCheckpoint => ({
          object: "fine_tuning.job.checkpoint",
          id: `ftckpt-${jobId}-${manifest.name}`,
          created_at: Math.floor(Date.parse(manifest.createdAt) / 1000),
          fine_tuned_model_checkpoint: checkpointModelName(fineTunedModel, manifest.step),
          step_number: manifest.step,
          metrics: openAiMetrics(manifest.step, manifest.metrics),
          fine_tuning_job_id: jobId
        }))
        // `final` and the last step's checkpoint share a step: `final` first.
        .sort((a, b) => b.step_number - a.step_number || (a.id.endsWith("-final") ? -1 : b.id.endsWith("-final") ? 1 : 0))
    }).pipe(Effect.provide(checkpointStoreLayer(recipe, runDir)))
  })
