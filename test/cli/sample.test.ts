import * as tf from "@tensorflow/tfjs"
import { Effect, Exit, Logger } from "effect"
import { cpSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest"
import { readHfModelDirectory } from "../../src/adapters/hf-model/model-directory.js"
import { decodeHfArchitecture, hfGreedy, hfLogits, loadHfWeights } from "../../src/adapters/local/hf/index.js"
import { disposeParameters, lookupIn } from "../../src/adapters/local/parameters.js"
import { makeHfTokenizer } from "../../src/adapters/tokenizers/hf-tokenizer.js"
import { checkCommandLine, parseArgs, UsageError } from "../../src/cli/args.js"
import { describeCause } from "../../src/cli/describe-error.js"
import { type SampleJson, sampleCommand } from "../../src/cli/sample-command.js"
import { runRecipe } from "../../src/kitchen/index.js"
import { prepareRunDirectory } from "../../src/kitchen/run-directory.js"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import { resolvedRecipeJson } from "../../src/recipes/recipe-hash.js"
import { shortSftSets, sftRecipe } from "../support/short-sft.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"
import { tinyCharSpecials, tinyCharTokenizerJson, tinyCharVocabSize } from "../support/tiny-char-tokenizer.js"

// `sous sample` in this process, its logs muted, so the reference below computes on the same
// TensorFlow.js backend as the command did.
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/hf")

/** What `sous sample <args>` printed, or the one line the CLI would print for its failure. */
const sample = async (args: ReadonlyArray<string>) => {
  let stdout = ""
  vi.spyOn(process.stdout, "write").mockImplementation((chunk) => (stdout += String(chunk), true))
  try {
    const parsed = parseArgs(["sample", ...args])
    checkCommandLine(parsed)
    const exit = await Effect.runPromiseExit(sampleCommand(parsed).pipe(Effect.provide(Logger.layer([]))))
    return { stdout, failure: Exit.isFailure(exit) ? describeCause(exit.cause, false) : undefined }
  } finally {
    vi.restoreAllMocks()
  }
}

const sampleJson = async (args: ReadonlyArray<string>): Promise<SampleJson> => {
  const result = await sample([...args, "--json"])
  expect(result.failure).toBeUndefined()
  return JSON.parse(result.stdout)
}

/** The message of the usage error (exit code 2) `sous sample <args>` is refused with. */
const usageError = (args: ReadonlyArray<string>): string => {
  try {
    const parsed = parseArgs(["sample", ...args])
    checkCommandLine(parsed)
    sampleCommand(parsed)
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    return (error as UsageError).message
  }
  throw new Error(`sous sample ${args.join(" ")} was not refused`)
}

const shared = suiteDirectory("sample")
// A copy of the Llama fixture with the tiny char tokenizer; its EOS (generation_config.json) is id 2.
const llama = join(shared, "llama")
const prompt = "ab1+2=c"

/** A copy of the Llama model directory in a test directory, to take files from. */
const llamaCopy = () => {
  const dir = join(testDirectory("sample-copy"), "model")
  cpSync(llama, dir, { recursive: true })
  return dir
}

beforeAll(() => {
  cpSync(join(fixtures, "llama"), llama, { recursive: true })
  rmSync(join(llama, "reference.json"))
  writeFileSync(join(llama, "tokenizer.json"), JSON.stringify(tinyCharTokenizerJson()))
})

afterEach(() => vi.restoreAllMocks())

/** The fixture's weights, as the parity tests load them. */
const loadLlama = () =>
  Effect.runPromise(Effect.gen(function*() {
    const model = yield* readHfModelDirectory(llama)
    const arch = yield* decodeHfArchitecture(model.config, join(llama, "config.json"))
    const params = yield* loadHfWeights(arch, model.tensors, llama)
    const tokenizer = yield* makeHfTokenizer(join(llama, "tokenizer.json"))
    return { arch, params, weight: lookupIn(params), ids: tokenizer.encode(prompt) }
  }))

describe("sous sample: a Hugging Face model directory", () => {
  it("samples greedily what hfGreedy decodes, stopping at the EOS, each token's logprob the largest", async () => {
    const result = await sampleJson([llama, "--prompt", prompt, "--max-tokens", "12"])
    const { arch, params, weight, ids } = await loadLlama()
    try {
      expect(ids).toHaveLength(prompt.length)
      const greedy = hfGreedy(arch, weight, ids, 12)
      const eos = greedy.indexOf(2)
      const expected = eos < 0 ? greedy : greedy.slice(0, eos + 1)
      expect(result.tokens.map((token) => token.id)).toEqual(expected)
      expect(result.stop_reason).toBe(eos < 0 ? "length" : "stop")
      expect(result.prompt).toBe(prompt)
      // Each token's logprob is the log-softmax of the model's logits at its place, and the largest there.
      const sequence = [...ids, ...expected]
      const logSoftmax = tf.tidy(() => tf.logSoftmax(hfLogits(arch, weight, tf.tensor2d([sequence], [1, sequence.length], "int32"))).arraySync() as Array<Array<Array<number>>>)
      result.tokens.forEach((token, index) => {
        const row = logSoftmax[0]![ids.length - 1 + index]!
        expect(token.logprob).toBeLessThanOrEqual(0)
        expect(token.logprob).toBeCloseTo(row[token.id]!, 4)
        expect(token.logprob).toBeCloseTo(Math.max(...row), 4)
      })
    } finally {
      disposeParameters(params)
    }
  }, 60_000)

  it("prints the completion alone in plain mode, without the token that stopped it", async () => {
    const json = await sampleJson([llama, "--prompt", prompt, "--max-tokens", "6"])
    const plain = await sample([llama, "--prompt", prompt, "--max-tokens", "6"])
    expect(plain.failure).toBeUndefined()
    expect(plain.stdout).toBe(`${json.completion}\n`)
    expect(json.tokens.length).toBeLessThanOrEqual(6)
  }, 60_000)

  it("at a temperature, the same seed samples the same tokens", async () => {
    const args = [llama, "--prompt", prompt, "--max-tokens", "16", "--temperature", "1.5"]
    const first = await sampleJson([...args, "--seed", "7"])
    const again = await sampleJson([...args, "--seed", "7"])
    expect(again.tokens).toEqual(first.tokens)
    const other = await sampleJson([...args, "--seed", "8"])
    expect(other.tokens).not.toEqual(first.tokens)
  }, 60_000)

  it("with --chat renders a user turn with the chat template and stops at the turn's end", async () => {
    const dir = llamaCopy()
    const [bos, eos] = tinyCharSpecials
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({
      bos_token: bos,
      eos_token: eos,
      chat_template: "{% for m in messages %}{{ bos_token }}{{ m.role }}:{{ m.content }}{{ eos_token }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ bos_token }}assistant:{% endif %}"
    }))
    const result = await sampleJson([dir, "--prompt", "1+2", "--chat", "--max-tokens", "8"])
    const ids = result.tokens.map((token) => token.id)
    expect(ids.every((id) => id >= 0 && id < 96)).toBe(true)
    // Stops at the EOS of the model (2) or at the template's end of turn.
    if (result.stop_reason === "stop") expect([2, tinyCharVocabSize - 1]).toContain(ids.at(-1))
    else expect(ids).toHaveLength(8)
  }, 60_000)

  it("refuses a directory without tokenizer.json, and --chat without tokenizer_config.json, naming the file", async () => {
    const dir = llamaCopy()
    const chat = await sample([dir, "--prompt", "1+2", "--chat"])
    expect(chat.failure).toContain(`${dir} has no tokenizer_config.json`)
    rmSync(join(dir, "tokenizer.json"))
    const plain = await sample([dir, "--prompt", "1+2"])
    expect(plain.failure).toContain(`${dir} has no tokenizer.json`)
  })
})

describe("sous sample: runs and command lines", () => {
  it("samples a run directory's newest checkpoint, and the same from that checkpoint's directory", async () => {
    const runDir = join(testDirectory("sample-run"), "run")
    const recipe = await Effect.runPromise(loadRecipe(sftRecipe, shortSftSets(2, 1)))
    // As sous run does: the resolved recipe in recipe.json, then the run.
    await Effect.runPromise(prepareRunDirectory(runDir, resolvedRecipeJson(recipe), false))
    await Effect.runPromise(runRecipe(recipe, { runDir }).pipe(Effect.provide(Logger.layer([]))))
    const fromRun = await sampleJson([runDir, "--prompt", "user: 12+7\nassistant:", "--max-tokens", "5"])
    expect(fromRun.tokens.length).toBeGreaterThan(0)
    expect(fromRun.tokens.length).toBeLessThanOrEqual(5)
    for (const token of fromRun.tokens) expect(token.logprob).toBeLessThanOrEqual(0)
    const fromCheckpoint = await sampleJson([join(runDir, "checkpoints", "final"), "--prompt", "user: 12+7\nassistant:", "--max-tokens", "5"])
    expect(fromCheckpoint).toEqual(fromRun)
    // An earlier checkpoint holds other weights: what is sampled is the checkpoint's.
    const first = readdirSync(join(runDir, "checkpoints")).filter((name) => name.startsWith("step-")).sort()[0]!
    const earlier = await sampleJson([join(runDir, "checkpoints", first), "--prompt", "user: 12+7\nassistant:", "--max-tokens", "5"])
    expect(earlier.tokens[0]!.logprob).not.toBeCloseTo(fromRun.tokens[0]!.logprob, 4)
    const chat = await sampleJson([runDir, "--prompt", "12+7", "--chat", "--max-tokens", "5"])
    expect(chat.tokens.length).toBeGreaterThan(0)
  }, 120_000)

  it("samples a LoRA run on a Hugging Face model with the adapters merged into its base", async () => {
    const dir = testDirectory("sample-lora")
    cpSync(llama, join(dir, "model"), { recursive: true })
    const rows = Array.from({ length: 16 }, (_, i) =>
      JSON.stringify({ messages: [{ role: "user", content: `${i % 5}+${i % 3}` }, { role: "assistant", content: `${(i % 5) + (i % 3)}` }] }))
    writeFileSync(join(dir, "train.jsonl"), `${rows.join("\n")}\n`)
    writeFileSync(join(dir, "recipe.yaml"), [
      "kind: supervised",
      "model: { hf: model, contextLength: 32, lora: { rank: 4 } }",
      "renderer: { format: role-colon }",
      "data: { train: train.jsonl, shuffle: false }",
      "training: { steps: 3, batchSize: 8 }",
      "optimizer: { lr: 0.05, schedule: constant }",
      "eval: { every: 0, batchSize: 8 }",
      "backend: { device: wasm, threads: 1 }"
    ].join("\n"))
    const runDir = join(dir, "run")
    const recipe = await Effect.runPromise(loadRecipe(join(dir, "recipe.yaml")))
    // The resolved recipe, with the default shape fields beside model.hf, loads again.
    await Effect.runPromise(prepareRunDirectory(runDir, resolvedRecipeJson(recipe), false))
    await Effect.runPromise(runRecipe(recipe, { runDir }).pipe(Effect.provide(Logger.layer([]))))
    const tuned = await sampleJson([runDir, "--prompt", prompt, "--max-tokens", "4"])
    const base = await sampleJson([llama, "--prompt", prompt, "--max-tokens", "4"])
    // The trained adapters change what the model gives its first token.
    expect(tuned.tokens[0]!.logprob).not.toBeCloseTo(base.tokens[0]!.logprob, 3)
    // The EOS is the base model's (generation_config.json: 2).
    if (tuned.stop_reason === "stop") expect(tuned.tokens.at(-1)!.id).toBe(2)
  }, 120_000)

  it("refuses bad command lines before loading anything, and names a model it cannot find", async () => {
    for (const [args, message] of [
      [[llama], "sous sample needs --prompt TEXT"],
      [["--prompt", "x"], "sous sample needs a model directory"],
      [[llama, "--prompt", "x", "--max-tokens", "0"], "--max-tokens must be an integer >= 1, got \"0\""],
      [[llama, "--prompt", "x", "--temperature", "-1"], "--temperature must be a number >= 0, got \"-1\""],
      [[llama, "--prompt", "x", "--seed", "1.5"], "--seed must be an integer >= 0, got \"1.5\""],
      [[llama, "--prompt", "x", "--out", "y"], "--out is not an option of sous sample"]
    ] as const) {
      expect(usageError(args)).toContain(message)
    }
    const missing = join(testDirectory("sample-missing"), "nothing")
    expect((await sample([missing, "--prompt", "x"])).failure).toBe(`${missing} is not a directory`)
    expect((await sample([dirname(missing), "--prompt", "x"])).failure).toContain("is no model sous can sample")
  })
})
