import type { LoraConfig, ModelArchitecture } from "../../ports/index.js"
import { resolveHfLoraModules } from "./hf/hf-lora-targets.js"
import { hfArchitectureOf } from "./hf/hf-model.js"
import type { LoraSettings } from "./lora.js"

/** The largest adapter rank the local backend accepts (its models are at most a few hundred wide). */
export const maxLoraRank = 128

/** The default `alpha`: adapters are scaled by `alpha / rank`. */
const defaultAlpha = 32

/** A request's LoRA settings with defaults filled in, or why the model cannot take them. */
export const resolveLora = (config: LoraConfig, architecture: ModelArchitecture): LoraSettings | string => {
  if (architecture.kind !== "transformer" && architecture.kind !== "hf") {
    return `LoRA adapts transformer models, not ${architecture.kind} models`
  }
  if (!Number.isInteger(config.rank) || config.rank < 1 || config.rank > maxLoraRank) {
    return `lora.rank must be an integer in [1, ${maxLoraRank}], got ${config.rank}`
  }
  const alpha = config.alpha ?? defaultAlpha
  if (!(alpha > 0)) return `lora.alpha must be > 0, got ${alpha}`
  const settings: LoraSettings = {
    rank: config.rank,
    alpha,
    trainAttn: config.trainAttn ?? true,
    trainMlp: config.trainMlp ?? true,
    trainUnembed: config.trainUnembed ?? true
  }
  if (architecture.kind === "hf") {
    const modules = resolveHfLoraModules(hfArchitectureOf(architecture), settings, config.targets)
    return typeof modules === "string" ? modules : { ...settings, modules }
  }
  if (config.targets !== undefined) return "lora.targets names Hugging Face modules; this model is sous's transformer (use trainAttn, trainMlp, trainUnembed)"
  if (!settings.trainAttn && !settings.trainMlp && !settings.trainUnembed) {
    return "lora trains nothing: trainAttn, trainMlp and trainUnembed are all false"
  }
  return settings
}
