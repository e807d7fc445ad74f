import type { ModelArchitecture } from "../../../ports/index.js"
import type { LossRequest } from "../datum-batch.js"
import type { LossResult } from "../local-trainer.js"
import type { LoraSettings } from "../lora.js"
import type { LocalDevice } from "../tf-runtime.js"

/** What a shard worker is started with: the trainer to build, on the main thread's backend. */
export interface ShardWorkerData {
  readonly architecture: ModelArchitecture
  readonly seed: number
  readonly lora: LoraSettings | undefined
  readonly device: LocalDevice
}

/** Named weight values, in the order of a parameter set's names. */
export type WeightValues = ReadonlyArray<readonly [string, Float32Array]>

/**
 * From the main thread to a shard worker, answered in order: a pass over its share of a
 * batch, after taking the weights the command carries (sent when they changed since the
 * worker last had them).
 */
export interface ShardCommand {
  readonly weights: WeightValues
  readonly backward: boolean
  readonly request: LossRequest
}

/** A worker's answer to a `pass`: the result and, after a backward pass, the gradients of the trained weights in their order. */
export type ShardReply =
  | { readonly type: "result"; readonly result: LossResult; readonly gradients: ReadonlyArray<Float32Array> }
  | { readonly type: "failed"; readonly message: string }
