import type { RunSummary } from "../run/run-keys.js"

/** What a model card says about a trained model. */
export interface ModelCardFacts {
  readonly name: string
  readonly baseModel: string
  readonly recipeHash: string
  readonly tokenizerId: string
  readonly summary: RunSummary
}

const metricRows = (metrics: Readonly<Record<string, number>>): Array<string> =>
  Object.entries(metrics).map(([key, value]) => `| ${key} | ${Number(value.toPrecision(6))} |`)

/**
 * A Hub model card (README.md): what was trained, from which recipe, and the evaluation
 * numbers of the run (first and last held-out evaluation, final training metrics).
 */
export const modelCard = (facts: ModelCardFacts): string => {
  const { summary } = facts
  const evaluation = (label: string, e: RunSummary["firstEval"]) =>
    e === undefined ? [] : [`### ${label} (step ${e.step})`, "", "| metric | value |", "|---|---|", ...metricRows(e.metrics), ""]
  return [
    "---",
    "library_name: sous",
    `base_model: ${facts.baseModel}`,
    "---",
    "",
    `# ${facts.name}`,
    "",
    `Trained with [sous](https://www.npmjs.com/package/sous) for ${summary.steps} optimizer steps from recipe ` +
    `\`${facts.recipeHash}\` (\`recipe.json\` in this repository), tokenizer \`${facts.tokenizerId}\`.`,
    "",
    "## Evaluation",
    "",
    ...evaluation("Before training", summary.firstEval),
    ...evaluation("After training", summary.lastEval),
    ...(Object.keys(summary.final).length === 0
      ? []
      : ["### Final training metrics", "", "| metric | value |", "|---|---|", ...metricRows(summary.final), ""]),
    "## Files",
    "",
    "- `weights.bin`: the final weights, in the sous local state format (`sous/local` `decodeState`)",
    "- `tokenizer.json`: the tokenizer's id, vocabulary size and special tokens",
    "- `recipe.json`: the resolved recipe, every default filled in",
    ""
  ].join("\n")
}
