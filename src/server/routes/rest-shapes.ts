import type { TrainingModel } from "../server-state.js"
import { formatCheckpointPath } from "../state-paths.js"
import type { StoredCheckpoint } from "./checkpoint-catalog.js"

// The SDK's reply types (tinker/types/*.py), which read datetimes as ISO 8601.

/** `Checkpoint` (`types/checkpoint.py`). */
export interface CheckpointJson {
  /** `<kind>/<name>`, as the SDK puts it into paths. */
  readonly checkpoint_id: string
  readonly checkpoint_type: "training" | "sampler"
  readonly time: string
  readonly tinker_path: string
  readonly size_bytes: number
  readonly public: boolean
  /** Null: never expires. */
  readonly expires_at: string | null
}

/** `TrainingRun` (`types/training_run.py`). */
export interface TrainingRunJson {
  readonly training_run_id: string
  readonly base_model: string
  readonly model_owner: string
  readonly is_lora: boolean
  readonly corrupted: boolean
  readonly lora_rank: number | null
  readonly last_request_time: string
  readonly last_checkpoint: CheckpointJson | null
  readonly last_sampler_checkpoint: CheckpointJson | null
  readonly user_metadata: Readonly<Record<string, string>> | null
}

/** `Cursor` (`types/cursor.py`): the page given and how many there are in all. */
export interface CursorJson {
  readonly offset: number
  readonly limit: number
  readonly total_count: number
}

/** What a run whose model this server no longer holds reports as its base model: the settings lived with the model. */
export const unknownBaseModel = "unknown (the model is no longer held by this server)"

const iso = (ms: number) => new Date(ms).toISOString()

/** A stored checkpoint as the SDK reads it; checkpoints are never public on this server. */
export const checkpointJson = (stored: StoredCheckpoint): CheckpointJson => ({
  checkpoint_id: `${stored.checkpoint.kind}/${stored.checkpoint.name}`,
  checkpoint_type: stored.checkpoint.kind === "weights" ? "training" : "sampler",
  time: iso(stored.time),
  tinker_path: formatCheckpointPath(stored.checkpoint),
  size_bytes: stored.sizeBytes,
  public: false,
  expires_at: stored.expiresAt === undefined ? null : iso(stored.expiresAt)
})

/**
 * A training run: a model of the key, held (`model`) or known only by its checkpoints
 * (`checkpoints`, newest first), whose newest checkpoint then stands for its last request.
 */
export const trainingRunJson = (
  owner: string,
  modelId: string,
  model: TrainingModel | undefined,
  checkpoints: ReadonlyArray<StoredCheckpoint>
): TrainingRunJson => {
  const newest = (kind: string) => {
    const found = checkpoints.find((stored) => stored.checkpoint.kind === kind)
    return found === undefined ? null : checkpointJson(found)
  }
  return {
    training_run_id: modelId,
    base_model: model?.baseModel ?? unknownBaseModel,
    model_owner: owner,
    is_lora: model?.lora !== undefined,
    corrupted: false,
    lora_rank: model?.lora?.rank ?? null,
    last_request_time: iso(Math.max(model?.lastUsedAt ?? 0, checkpoints[0]?.time ?? 0)),
    last_checkpoint: newest("weights"),
    last_sampler_checkpoint: newest("sampler_weights"),
    user_metadata: null
  }
}
