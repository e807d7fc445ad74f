import type { ModelArchitecture } from "../../ports/index.js"
import { cnnProblem } from "./classifiers.js"
import { hfModelProblem } from "./hf/hf-model.js"
import { transformerProblem } from "./transformer.js"

type Dimension = readonly [name: string, value: number]

const each = (name: string, values: ReadonlyArray<number>): Array<Dimension> =>
  values.map((value, i) => [`${name}[${i}]`, value])

/** Every size an architecture names (widths, counts, shapes), each of which must be a positive integer. */
const dimensions = (arch: ModelArchitecture): Array<Dimension> => {
  switch (arch.kind) {
    case "transformer":
      return [
        ["vocabSize", arch.vocabSize],
        ["contextLength", arch.contextLength],
        ["width", arch.width],
        ["layers", arch.layers],
        ["heads", arch.heads]
      ]
    case "hf":
      return [["vocabSize", arch.vocabSize], ["contextLength", arch.contextLength]]
    case "mlp":
      return [...each("inputShape", arch.inputShape), ...each("hidden", arch.hidden), ["classes", arch.classes]]
    case "cnn":
      return [
        ...each("inputShape", arch.inputShape),
        ...each("filters", arch.filters),
        ["kernelSize", arch.kernelSize],
        ...each("hidden", arch.hidden),
        ["classes", arch.classes]
      ]
  }
}

/**
 * Why an architecture cannot be built, or `undefined` when it can: a size that is not a
 * positive integer (an architecture built in code never met the port schema's checks), then
 * what its kind needs (heads that divide the width, an input that survives the poolings).
 */
export const architectureProblem = (arch: ModelArchitecture): string | undefined => {
  const bad = dimensions(arch).find(([, value]) => !(Number.isInteger(value) && value > 0))
  if (bad !== undefined) return `${bad[0]} must be a positive integer, got ${bad[1]}`
  switch (arch.kind) {
    case "transformer":
      return transformerProblem(arch)
    case "hf":
      return hfModelProblem(arch)
    case "mlp":
      return undefined
    case "cnn":
      return cnnProblem(arch)
  }
}
