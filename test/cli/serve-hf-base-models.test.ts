import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join, resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { readBaseModels } from "../../src/cli/base-models-file.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCli } from "./run-cli.js"

// `sous serve --base-models FILE` with Hugging Face model directories: read at start, turned
// into the architectures the local backend trains, and refused with the file, model and cause.
const fixtures = join(root, "test/fixtures/hf")

/** A base-models file holding `models`, in a fresh directory. */
const modelsFile = (models: unknown): string => {
  const file = join(testDirectory("base-models"), "models.json")
  writeFileSync(file, JSON.stringify(models))
  return file
}

/** A copy of a fixture's directory whose config.json is changed by `edit`. */
const editedFixture = (name: string, edit: (config: Record<string, unknown>) => void): string => {
  const dir = join(testDirectory("hf-edited"), name)
  cpSync(join(fixtures, name), dir, { recursive: true })
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as Record<string, unknown>
  edit(config)
  writeFileSync(join(dir, "config.json"), JSON.stringify(config))
  return dir
}

describe("--base-models with Hugging Face directories", () => {
  it("resolves a relative directory against the file's own directory, reading vocab and positions from config.json", () => {
    const home = testDirectory("base-models-home")
    cpSync(join(fixtures, "llama"), join(home, "models/tiny-llama"), { recursive: true })
    mkdirSync(join(home, "conf"))
    const file = join(home, "conf/models.json")
    writeFileSync(file, JSON.stringify({
      "tiny-llama": { hf: "../models/tiny-llama" },
      "short-gpt2": { hf: join(fixtures, "gpt2"), contextLength: 16 },
      scratch: { kind: "transformer", vocabSize: 16, contextLength: 8, width: 16, layers: 1, heads: 2 }
    }))
    // Not the working directory's: the file's.
    expect(process.cwd()).not.toBe(join(home, "conf"))
    expect(readBaseModels(file)).toEqual({
      "tiny-llama": { kind: "hf", dir: resolve(home, "models/tiny-llama"), vocabSize: 96, contextLength: 64 },
      "short-gpt2": { kind: "hf", dir: join(fixtures, "gpt2"), vocabSize: 96, contextLength: 16 },
      scratch: { kind: "transformer", vocabSize: 16, contextLength: 8, width: 16, layers: 1, heads: 2 }
    })
  })

  it("refuses a directory that does not exist, naming the file, the model and the directory", () => {
    const file = modelsFile({ ghost: { hf: "./no-such-model" } })
    expect(() => readBaseModels(file)).toThrow(
      `--base-models ${file}: model "ghost": ${resolve(file, "../no-such-model")} does not exist`
    )
  })

  it("refuses an architecture the local backend does not run, naming config.json and the supported ones", () => {
    const dir = editedFixture("llama", (config) => (config["architectures"] = ["FooForCausalLM"]))
    const file = modelsFile({ foo: { hf: dir } })
    expect(() => readBaseModels(file)).toThrow(
      `--base-models ${file}: model "foo": ${join(dir, "config.json")}: architectures[0]: "FooForCausalLM" is not supported ` +
        "(supported: LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MistralForCausalLM, GPT2LMHeadModel)"
    )
  })

  it("refuses a contextLength past the model's positions, misspelt fields and a Hub address", () => {
    const tooLong = modelsFile({ llama: { hf: join(fixtures, "llama"), contextLength: 65 } })
    expect(() => readBaseModels(tooLong)).toThrow(`model "llama": contextLength 65 exceeds the 64 positions of the model at ${join(fixtures, "llama")}`)
    const misspelt = modelsFile({ llama: { hf: join(fixtures, "llama"), contextLenght: 8 } })
    expect(() => readBaseModels(misspelt)).toThrow(`model "llama": contextLenght: expected no excess property; did you mean "contextLength"?`)
    const noKey = modelsFile({ llama: { HF: "./llama" } })
    expect(() => readBaseModels(noKey)).toThrow(`model "llama": expected {"hf": "<model directory>"} or an architecture {"kind": "transformer", ...}, got {"HF":"./llama"}`)
    const hub = modelsFile({ smol: { hf: "hf://HuggingFaceTB/SmolLM2-135M" } })
    expect(() => readBaseModels(hub)).toThrow(`model "smol": hf: "hf://HuggingFaceTB/SmolLM2-135M" is not a local directory`)
  })

  it("stops sous serve before it listens, with exit code 2", () => {
    const dir = editedFixture("qwen3", (config) => delete config["hidden_size"])
    const file = modelsFile({ qwen: { hf: dir } })
    const result = runCli(["serve", "--port", "0", "--base-models", file])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`--base-models ${file}: model "qwen": ${join(dir, "config.json")}: hidden_size`)
    expect(result.stdout).not.toContain("listening")
  })
})
