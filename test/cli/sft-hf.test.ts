import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { makeHfTokenizer } from "../../src/adapters/tokenizers/hf-tokenizer.js"
import type { ChatMessage } from "../../src/ports/index.js"
import { makeJinjaRenderer } from "../../src/stages/rendering/jinja-renderer.js"
import { readMetrics, readRecipe, readSummary } from "../support/run-directory.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCli } from "./run-cli.js"

const example = join(root, "examples/sft-hf")
const model = join(example, "model")

describe("examples/sft-hf", () => {
  // The model directory as sous reads it must give the tokens transformers gives: the
  // tokenizer.json (a digit-splitting byte-level BPE) through @huggingface/tokenizers, the
  // chat template of tokenizer_config.json through the jinja renderer.
  it("renders a chat of its data to the ids transformers gives, training the answer and its end", async () => {
    const config = JSON.parse(readFileSync(join(model, "tokenizer_config.json"), "utf8"))
    const chat = JSON.parse(readFileSync(join(example, "data/eval.jsonl"), "utf8").split("\n")[0]!)
    const messages = chat.messages as ReadonlyArray<ChatMessage>
    const rendered = await Effect.runPromise(Effect.gen(function*() {
      const tokenizer = yield* makeHfTokenizer(join(model, "tokenizer.json"))
      const render = yield* makeJinjaRenderer({ source: "tokenizer_config.json", template: config.chat_template }, "assistant")
      return yield* render(messages, tokenizer)
    }))
    // transformers 5.18: tokenizer(apply_chat_template(messages, tokenize=False),
    // add_special_tokens=False) on this directory, for the system / user / assistant chat
    // "Answer in lowercase words." / "How do you say 333 in English?" / "three hundred thirty-three".
    expect(messages.map((message) => message.content)).toEqual(["Answer in lowercase words.", "How do you say 333 in English?", "three hundred thirty-three"])
    expect(rendered.tokens).toEqual([
      1, 341, 201, 343, 272, 342, 284, 16, 2, 201,
      1, 270, 201, 317, 325, 327, 326, 223, 21, 21, 21, 272, 330, 33, 2, 201,
      1, 271, 201, 359, 279, 376, 15, 359, 2, 201
    ])
    // "three", " hundred", " thirty", "-", "three", <|im_end|>, "\n"
    expect(rendered.weights).toEqual([...Array<number>(29).fill(0), ...Array<number>(7).fill(1)])
  })

  // The example, shortened: 30 steps instead of 300, evaluated before and after only. With
  // seed 0 the held-out NLL went from 6.04 (about log 423: random weights guess every token
  // alike) to 1.22, and the training loss from 6.06 to about 1.1; both must fall below 30% of
  // where they started. At 30 steps the model has learned the answers' form (three words,
  // hyphen, end of turn) but not yet which word each digit names: that is the full run's work.
  // With lr 1e-9 instead, the same run stays at 6.04 (NLL) and 6.04 (loss), failing both.
  it("learns from the model directory: held-out NLL and training loss fall below 30% of the start", () => {
    const out = join(testDirectory("e2e"), "run")
    const result = runCli([
      "run", join(example, "recipe.yaml"), "--out", out,
      "--set", "training.steps=30", "--set", "eval.every=0", "--set", "checkpoint.every=0", "--set", "backend.device=wasm"
    ])
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)

    // The directory gave the tokenizer and the chat template (the recipe names neither).
    const recipe = readRecipe(out) as ReturnType<typeof readRecipe> & {
      readonly tokenizer: { readonly path: string }
      readonly renderer: { readonly chatTemplate: { readonly source: string; readonly eosToken: string } }
    }
    expect(recipe.tokenizer.path).toBe(join(model, "tokenizer.json"))
    expect(recipe.renderer.chatTemplate.source).toBe(join(model, "tokenizer_config.json"))
    expect(recipe.renderer.chatTemplate.eosToken).toBe("<|im_end|>")

    const summary = readSummary(out)
    const first = summary.firstEval.metrics.eval_nll!
    expect(summary.firstEval.step).toBe(0)
    expect(first).toBeCloseTo(Math.log(423), 0)
    expect(summary.lastEval.step).toBe(30)
    expect(summary.lastEval.metrics.eval_nll).toBeLessThan(0.3 * first)

    const losses = readMetrics(out).map((line) => line.loss!)
    expect(losses).toHaveLength(30)
    const lastFive = losses.slice(-5).reduce((total, loss) => total + loss, 0) / 5
    expect(lastFive).toBeLessThan(0.3 * losses[0]!)
  })
})
