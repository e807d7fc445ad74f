import { Effect, Result, Schema } from "effect"
import { decodeFields } from "./hf-config-fields.js"
import { decodeGpt2Config } from "./hf-gpt2-config.js"
import { decodeLlamaConfig } from "./hf-llama-config.js"

/** The Llama-family architectures (one forward pass, set apart by flags), by `architectures[0]`. */
export const hfLlamaFamily = ["LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "MistralForCausalLM"] as const
export type HfLlamaFamilyName = typeof hfLlamaFamily[number]
/** Every model whose Hugging Face checkpoints the local backend can run, by `architectures[0]`. */
export const hfArchitectureNames = [...hfLlamaFamily, "GPT2LMHeadModel"] as const
export type HfArchitectureName = typeof hfArchitectureNames[number]

/** How rotary frequencies are adjusted: not at all, or Llama 3.1's band-wise scaling. */
export type HfRopeScaling =
  | { readonly kind: "none" }
  | {
    readonly kind: "llama3"
    readonly factor: number
    readonly lowFreqFactor: number
    readonly highFreqFactor: number
    readonly originalMaxPositions: number
  }

/**
 * Llama and its relatives (Qwen2, Qwen3, Mistral): RMSNorm before attention and MLP, rotary
 * positions, grouped-query attention and a SwiGLU MLP. They differ only in the flags here.
 */
export interface HfLlamaArchitecture {
  readonly family: "llama"
  readonly name: HfLlamaFamilyName
  readonly vocabSize: number
  readonly hiddenSize: number
  readonly intermediateSize: number
  readonly layers: number
  readonly heads: number
  /** Key/value heads; each serves `heads / kvHeads` query heads. */
  readonly kvHeads: number
  readonly headDim: number
  readonly rmsNormEps: number
  readonly ropeTheta: number
  readonly ropeScaling: HfRopeScaling
  /** Biases on q_proj, k_proj and v_proj (Qwen2 always; Llama and Qwen3 with `attention_bias`). */
  readonly qkvBias: boolean
  /** A bias on o_proj (Llama and Qwen3 with `attention_bias`). */
  readonly outputBias: boolean
  /** Qwen3's RMSNorm of each query and key head before the rotation. */
  readonly qkNorm: boolean
  /** Mistral's attention window; sequences longer than it are refused, since it is not implemented. */
  readonly slidingWindow: number | undefined
  /** The output layer is the token embedding (no `lm_head.weight`). */
  readonly tieWordEmbeddings: boolean
}

/** GPT-2: LayerNorm, learned positions, one fused q/k/v projection, a GELU (tanh) MLP. */
export interface HfGpt2Architecture {
  readonly family: "gpt2"
  readonly name: "GPT2LMHeadModel"
  readonly vocabSize: number
  readonly width: number
  readonly layers: number
  readonly heads: number
  /** Rows of the position table: the longest sequence the model can read. */
  readonly positions: number
  readonly innerSize: number
  readonly layerNormEps: number
  readonly tieWordEmbeddings: boolean
}

/** A Hugging Face model the local backend can run, decoded from its config.json. */
export type HfArchitecture = HfLlamaArchitecture | HfGpt2Architecture

/** A config.json that does not describe a model the local backend can run; the message names the field. */
export class HfConfigError extends Schema.TaggedError<HfConfigError>()("HfConfigError", {
  source: Schema.String,
  message: Schema.String
}) {}

const Head = Schema.Struct({ architectures: Schema.Array(Schema.String).check(Schema.isMinLength(1)) })

/**
 * The architecture a parsed config.json describes, or every reason the local backend cannot
 * run it, each naming its field: an architecture other than {@link hfArchitectureNames}, or a
 * setting that changes the math in a way not implemented here (see the family decoders for
 * the list). `source` (the file) leads the message.
 */
export const decodeHfArchitecture = (config: unknown, source: string): Effect.Effect<HfArchitecture, HfConfigError> =>
  Effect.suspend(() => {
    const fail = (problems: ReadonlyArray<string>) =>
      Effect.fail(new HfConfigError({ source, message: `${source}: ${problems.join("; ")}` }))
    const head = decodeFields(Head, config)
    if (Result.isFailure(head)) return fail(head.failure)
    const name = head.success.architectures[0]!
    const decoded: Result.Result<HfArchitecture, ReadonlyArray<string>> = name === "GPT2LMHeadModel"
      ? decodeGpt2Config(config)
      : (hfLlamaFamily as ReadonlyArray<string>).includes(name)
      ? decodeLlamaConfig(name as HfLlamaFamilyName, config)
      : Result.fail([
        `architectures[0]: ${JSON.stringify(name)} is not supported (supported: ${hfArchitectureNames.join(", ")})`
      ])
    return Result.isFailure(decoded) ? fail(decoded.failure) : Effect.succeed(decoded.success)
  })
