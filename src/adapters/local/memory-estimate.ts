import type { HfModelArchitecture, LoraConfig, ModelArchitecture, TransformerArchitecture } from "../../ports/index.js"
import { resolveLora } from "./lora-config.js"
import type { LoraSettings } from "./lora.js"
import { hfArchitectureOf } from "./hf/hf-model.js"
import { loraTargets } from "./lora.js"
import { modelSpecs } from "./model.js"
import { specsSize } from "./parameters.js"

/** What a model of the local backend holds in memory, worked out from its settings alone. */
export interface MemoryEstimate {
  /** Weights of the model. */
  readonly parameters: number
  /** Weights that are trained: the model's, or its LoRA adapters' (0 for a sampler). */
  readonly trainedParameters: number
  /** Bytes of float32 tensors the model holds while it lives. */
  readonly bytes: number
}

const bytesPerFloat = 4

/**
 * Weights of a transformer, in closed form: building `transformerSpecs` would itself take
 * memory in proportion to `layers`, which is what an estimate made before building must not.
 * Per layer: four `[d, d]` attention projections and the `[d, 4d]`, `[4d, d]` MLP (12d²), and
 * 12d of biases and norms; around them the embeddings, the final norm and the unembedding.
 */
const transformerParameters = (arch: TransformerArchitecture): number => {
  const { vocabSize: v, contextLength: t, width: d, layers } = arch
  return v * d + t * d + layers * (12 * d * d + 12 * d) + 2 * d + d * v
}

/**
 * Weights of an architecture; classifiers and Hugging Face models list theirs (a classifier's
 * size is bounded by the request that describes it, a Hugging Face model's by its files).
 */
export const estimateParameters = (arch: ModelArchitecture): number =>
  arch.kind === "transformer" ? transformerParameters(arch) : specsSize(modelSpecs(arch))

/**
 * Weights of the adapters `initLora` puts on a transformer: `A` [in, rank] and `B` [rank, out]
 * per target (4 `[d, d]` attention projections and the two MLP matrices per layer, the unembedding).
 */
const loraParameters = (arch: TransformerArchitecture, settings: LoraSettings): number => {
  const { vocabSize: v, width: d, layers } = arch
  const r = settings.rank
  const perLayer = (settings.trainAttn ? 4 * 2 * d * r : 0) + (settings.trainMlp ? 2 * (d * r + r * 4 * d) : 0)
  return layers * perLayer + (settings.trainUnembed ? d * r + r * v : 0)
}

/** Weights of the adapters on a Hugging Face model: `A` [in, rank] and `B` [rank, out] per target matrix. */
const hfLoraParameters = (arch: HfModelArchitecture, settings: LoraSettings): number => {
  const shapes = new Map(modelSpecs(arch).map((spec) => [spec.name, spec.shape]))
  return loraTargets(arch, settings).reduce((total, target) => {
    const [inWidth, outWidth] = shapes.get(target)!
    return total + settings.rank * (inWidth! + outWidth!)
  }, 0)
}

/**
 * The memory a training client of the local backend holds: the model's weights, and for every
 * trained weight its gradient accumulator and AdamW's two moments (three more copies, held in
 * JavaScript memory rather than the backend's; see `AdamWState`). With
 * LoRA the base is frozen and the adapters, a fourth set of weights, carry those. LoRA
 * settings the backend would refuse count as full fine-tuning, an upper bound (the build is
 * refused anyway).
 */
export const estimateTrainingMemory = (arch: ModelArchitecture, lora?: LoraConfig): MemoryEstimate => {
  const parameters = estimateParameters(arch)
  const settings = lora === undefined ? undefined : resolveLora(lora, arch)
  if (settings === undefined || typeof settings === "string" || (arch.kind !== "transformer" && arch.kind !== "hf")) {
    return { parameters, trainedParameters: parameters, bytes: bytesPerFloat * 4 * parameters }
  }
  const adapters = arch.kind === "transformer" ? loraParameters(arch, settings) : hfLoraParameters(arch, settings)
  return { parameters, trainedParameters: adapters, bytes: bytesPerFloat * (parameters + 4 * adapters) }
}

/**
 * Floats the forward pass of one row of `tokens` positions (a transformer's context length by
 * default) keeps for the backward pass: a lower bound, the big tensors only.
 */
export const activationsPerRow = (arch: ModelArchitecture, tokens?: number): number => {
  switch (arch.kind) {
    case "transformer": {
      // Per layer and position: the residual stream, norms, q, k, v, attention output and the
      // 4d MLP before and after its activation (16d), and the attention scores before and
      // after softmax (2 × heads × positions); then the logits and their softmax.
      const { width: d, layers, heads, vocabSize: v } = arch
      const t = tokens ?? arch.contextLength
      return t * (layers * (16 * d + 2 * heads * t) + 2 * v)
    }
    case "hf": {
      // As for the transformer, with the model's own widths: q, k, v and attention output
      // (4 × heads × headDim at most), the residual and norms (4d), the MLP's three widths.
      const model = hfArchitectureOf(arch)
      const t = tokens ?? arch.contextLength
      const [d, inner] = model.family === "llama" ? [model.hiddenSize, model.intermediateSize] : [model.width, model.innerSize]
      const attention = model.family === "llama" ? model.heads * model.headDim : model.width
      return t * (model.layers * (4 * d + 4 * attention + 3 * inner + 2 * model.heads * t) + 2 * model.vocabSize)
    }
    case "mlp":
      return arch.inputShape.reduce((total, dim) => total * dim, 1) + 2 * (arch.hidden.reduce((a, b) => a + b, 0) + arch.classes)
    case "cnn": {
      // Each convolution's output before and after ReLU, at the size its pooling halves next.
      const [height, width, channels] = arch.inputShape
      const convolutions = arch.filters.reduce((total, filters, i) => total + 2 * filters * Math.ceil(height / 2 ** i) * Math.ceil(width / 2 ** i), 0)
      return height * width * channels + convolutions + 2 * (arch.hidden.reduce((a, b) => a + b, 0) + arch.classes)
    }
  }
}

/** Bytes the activations of one forward/backward pass over rows of `rowLengths` positions take, at the least. */
export const estimateStepActivations = (arch: ModelArchitecture, rowLengths: ReadonlyArray<number>): number =>
  bytesPerFloat * rowLengths.reduce((total, length) => total + activationsPerRow(arch, arch.kind === "transformer" || arch.kind === "hf" ? length : undefined), 0)

/** The memory a sampling client of the local backend holds: the model's weights. */
export const estimateSamplingMemory = (arch: ModelArchitecture): MemoryEstimate => {
  const parameters = estimateParameters(arch)
  return { parameters, trainedParameters: 0, bytes: bytesPerFloat * parameters }
}
