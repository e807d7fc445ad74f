import { join } from "node:path"
import { root } from "../cli/run-cli.js"

/** The sft-arithmetic example, which the durable tests run shortened (see {@link shortSftSets}). */
export const sftRecipe = join(root, "examples/sft-arithmetic/recipe.yaml")

/**
 * The `--set`s of a shortened sft-arithmetic run: `steps` steps, a checkpoint every `every`,
 * an evaluation every `2 * every`, a small model on wasm, so a step takes a fraction of a second.
 */
export const shortSftSets = (steps: number, every: number): Array<string> => [
  `training.steps=${steps}`, "optimizer.warmupSteps=2", `checkpoint.every=${every}`, `eval.every=${2 * every}`,
  "model.width=32", "model.layers=1", "backend.device=wasm"
]
