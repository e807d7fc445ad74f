/**
 * A supervised recipe on a tiny Hugging Face model for tests: 24 one-line sums as data and a
 * recipe that names the model by `hf` (a directory beside it, or an `hf://` repo).
 */

/** The data: `{messages}` rows of sums, one JSON line each. */
export const sumConversations: ReadonlyArray<string> = Array.from({ length: 24 }, (_, i) => {
  const [a, b] = [i % 5, (i * 3) % 4]
  return JSON.stringify({ messages: [{ role: "user", content: `${a}+${b}` }, { role: "assistant", content: `${a + b}` }] })
})

/** What a test varies in the recipe. `model` is added to the model section (e.g. `, lora: {...}`). */
export interface HfSftOptions {
  readonly hf?: string
  readonly steps: number
  readonly lr: number
  readonly model?: string
}

/** The recipe's YAML: batches of 8 in file order, constant lr, no eval in between, wasm on one thread. */
export const hfSftRecipeYaml = (options: HfSftOptions): string => `kind: supervised
model: { hf: "${options.hf ?? "model"}", contextLength: 32${options.model ?? ""} }
renderer: { format: role-colon }
data: { train: train.jsonl, shuffle: false }
training: { steps: ${options.steps}, batchSize: 8 }
optimizer: { lr: ${options.lr}, schedule: constant }
eval: { every: 0, batchSize: 8 }
backend: { device: wasm, threads: 1 }
`
