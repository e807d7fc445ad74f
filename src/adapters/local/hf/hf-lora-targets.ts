import { closestName } from "../../../ports/closest-name.js"
import type { HfArchitecture } from "./hf-architecture.js"
import { hfWeightSpecs } from "./hf-weights.js"

/** The module names LoRA may target on a model, attention's and the MLP's, as PEFT names them. */
const moduleNames = (arch: HfArchitecture) =>
  arch.family === "llama"
    ? { attn: ["q_proj", "k_proj", "v_proj", "o_proj"], mlp: ["gate_proj", "up_proj", "down_proj"] }
    // GPT-2's c_proj is in attention and in the MLP: the name targets both, as in PEFT.
    : { attn: ["c_attn", "c_proj"], mlp: ["c_fc", "c_proj"] }

/** Every module name LoRA accepts on a model: its projections, and lm_head when it is not tied. */
export const hfLoraModuleNames = (arch: HfArchitecture): ReadonlyArray<string> => {
  const { attn, mlp } = moduleNames(arch)
  return [...new Set([...attn, ...mlp, ...(arch.tieWordEmbeddings ? [] : ["lm_head"])])]
}

/**
 * The modules a LoRA request targets: `targets` as given, each checked (an unknown name is
 * refused with the nearest known one), or without it attention's and the MLP's projections
 * as `trainAttn` and `trainMlp` say, and lm_head with `trainUnembed` when the model has its
 * own (a tied one has none to adapt). Returns the problem as a string.
 */
export const resolveHfLoraModules = (
  arch: HfArchitecture,
  flags: { readonly trainAttn: boolean; readonly trainMlp: boolean; readonly trainUnembed: boolean },
  targets: ReadonlyArray<string> | undefined
): ReadonlyArray<string> | string => {
  const known = hfLoraModuleNames(arch)
  if (targets !== undefined) {
    if (targets.length === 0) return "lora.targets is empty: name at least one module"
    for (const target of targets) {
      if (!known.includes(target)) {
        const meant = closestName(target, known)
        return `lora.targets: ${JSON.stringify(target)} is not a module of ${arch.name}` +
          (meant === undefined ? ` (its modules: ${known.join(", ")})` : `; did you mean "${meant}"?`)
      }
    }
    return [...new Set(targets)]
  }
  const { attn, mlp } = moduleNames(arch)
  const modules = [
    ...(flags.trainAttn ? attn : []),
    ...(flags.trainMlp ? mlp : []),
    ...(flags.trainUnembed && !arch.tieWordEmbeddings ? ["lm_head"] : [])
  ]
  return modules.length === 0 ? "lora trains nothing on this model: no module is targeted" : [...new Set(modules)]
}

/**
 * The weights that carry adapters for `modules`: each matrix whose module (the last name
 * before `.weight`) is one of them, as PEFT matches `target_modules`. Biases are not adapted.
 */
export const hfLoraTargets = (arch: HfArchitecture, modules: ReadonlyArray<string>): Array<string> =>
  hfWeightSpecs(arch)
    .filter((spec) => spec.name.endsWith(".weight") && spec.shape.length === 2)
    .map((spec) => spec.name)
    .filter((name) => modules.includes(name.split(".").at(-2)!))
