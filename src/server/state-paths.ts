import * as path from "node:path"

/** Trainer state (weights and optimizer) or weights for a sampler. */
export type CheckpointKind = "weights" | "sampler_weights"

/** A checkpoint this server stores: `tinker://<model_id>/<kind>/<name>`. */
export interface CheckpointPath {
  readonly modelId: string
  readonly kind: CheckpointKind
  readonly name: string
}

// Names and model ids become file names: no separators, no dot segments, nothing hidden.
const namePattern = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$/
const modelIdPattern = /^[A-Za-z0-9_][A-Za-z0-9._:-]{0,199}$/

/** Why `name` cannot name a checkpoint, or undefined if it can. */
export const checkpointNameProblem = (name: string): string | undefined =>
  namePattern.test(name) && !name.includes("..")
    ? undefined
    : `checkpoint name ${JSON.stringify(name)} must be 1-200 letters, digits, '.', '_' or '-', not start with '.' or '-', and hold no '..'`

/** The `tinker://` path of a checkpoint. */
export const formatCheckpointPath = (checkpoint: CheckpointPath): string =>
  `tinker://${checkpoint.modelId}/${checkpoint.kind}/${checkpoint.name}`

/**
 * Reads a `tinker://<model_id>/(weights|sampler_weights)/<name>` path; answers why it is
 * not one (another scheme, another layout, a name that could escape the state directory).
 */
export const parseCheckpointPath = (text: string): CheckpointPath | string => {
  const match = /^tinker:\/\/([^/]+)\/(weights|sampler_weights)\/([^/]+)$/.exec(text)
  if (match === null) {
    return `path ${JSON.stringify(text)} is not a checkpoint of this server: expected tinker://<model_id>/weights/<name> or tinker://<model_id>/sampler_weights/<name>`
  }
  const [, modelId, kind, name] = match as unknown as [string, string, CheckpointKind, string]
  if (!modelIdPattern.test(modelId) || modelId.includes("..")) return `path ${JSON.stringify(text)} holds an invalid model id`
  const problem = checkpointNameProblem(name)
  if (problem !== undefined) return `path ${JSON.stringify(text)}: ${problem}`
  return { modelId, kind, name }
}

/**
 * The file of a checkpoint of the key named `owner` under `stateDir`:
 * `tenants/<owner>/<model_id>/<kind>/<name>.state`. Each key's checkpoints live apart, so a
 * path another key sends finds nothing (key names are letters, digits, '_' and '-'). Model ids
 * hold ':', which some file systems refuse, so the directory name is URI-encoded; the result
 * is checked to stay inside.
 */
export const checkpointFile = (stateDir: string, owner: string, checkpoint: CheckpointPath): string => {
  const root = path.resolve(stateDir, "tenants", owner)
  const file = path.join(root, encodeURIComponent(checkpoint.modelId), checkpoint.kind, `${checkpoint.name}.state`)
  if (!file.startsWith(root + path.sep)) throw new Error(`checkpoint ${formatCheckpointPath(checkpoint)} escapes the state directory`)
  return file
}
