import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { manifestFile } from "../support/run-directory.js"
import { suiteDirectory } from "../support/temp-directory.js"
import { runCli } from "./run-cli.js"

const dir = suiteDirectory("cli")
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const goodRow = JSON.stringify({ messages: [{ role: "user", content: "1+1?" }, { role: "assistant", content: "2" }] })
const train = join(dir, "train.jsonl")
beforeAll(() => {
  write("train.jsonl", `${goodRow}\n${goodRow}\n`)
})
const recipe = (extra = "") => `kind: supervised\ndata:\n  train: ${train}\n${extra}`

/** A stack trace line, which users should only see with --verbose. */
const stackLine = /^\s+at .+\(.+:\d+:\d+\)$/m

describe("sous exit codes and messages", () => {
  it("prints usage and exits 2 without a command, 0 with --help", () => {
    const bare = runCli([])
    expect(bare.code).toBe(2)
    expect(bare.stdout).toContain("Usage:")
    expect(runCli(["--help"]).code).toBe(0)
  })

  it("exits 2 on an unknown command, an unknown option or a missing --out", () => {
    const unknown = runCli(["bake", "x.yaml"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain("unknown command 'bake'")
    expect(runCli(["validate", "x.yaml", "--fast"]).stderr).toContain("unknown option --fast")
    const noOut = runCli(["run", write("ok.yaml", recipe())])
    expect(noOut.code).toBe(2)
    expect(noOut.stderr).toContain("sous run needs --out <dir>")
  })

  it("validates a good recipe and prints it resolved", () => {
    const result = runCli(["validate", write("valid.yaml", recipe()), "--set", "optimizer.lr=0.01"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("a valid supervised recipe")
    expect(result.stdout).toContain('"lr": 0.01')
  })

  it("names the mistakes specific to a kind: rl without env, distill without teacher, a preference row without rejected", () => {
    const rl = runCli(["validate", write("rl.yaml", `kind: rl\ndata:\n  train: ${train}\n`)])
    expect(rl.code).toBe(1)
    expect(rl.stderr).toContain("env: an rl recipe needs an environment")
    const distill = runCli(["validate", write("distill.yaml", `kind: distill\ndata:\n  train: ${train}\n`)])
    expect(distill.code).toBe(1)
    expect(distill.stderr).toContain("teacher: a distill recipe needs a teacher")
    const pairs = write("pairs.jsonl", [
      JSON.stringify({ prompt: [{ role: "user", content: "1+1?" }], chosen: [{ role: "assistant", content: "2" }], rejected: [{ role: "assistant", content: "3" }] }),
      JSON.stringify({ prompt: [{ role: "user", content: "2+2?" }], chosen: [{ role: "assistant", content: "4" }] })
    ].join("\n") + "\n")
    const preference = runCli(["validate", write("preference.yaml", `kind: preference\ndata:\n  train: ${pairs}\n`)])
    expect(preference.code).toBe(1)
    expect(preference.stderr).toContain(`${pairs}:2`)
    expect(preference.stderr).toContain("rejected: missing key")
  })

  it("reports every recipe problem with its path, once, without a stack trace", () => {
    const result = runCli(["validate", write("bad.yaml", recipe("optimizer:\n  lr: -1\ntraining:\n  batchSize: 0\n"))])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("optimizer.lr: expected a positive number, got -1")
    expect(result.stderr).toContain("training.batchSize: expected a positive integer, got 0")
    expect(result.stderr).not.toMatch(stackLine)
  })

  it("names the file and line of a bad dataset row; --verbose adds the cause", () => {
    const badData = write("bad.jsonl", `${goodRow}\n${goodRow}\n{"messages": [{"role": "robot", "content": "hi"}]}\n`)
    const path = write("bad-data.yaml", `kind: supervised\ndata:\n  train: ${badData}\ntraining:\n  steps: 1\n`)
    const result = runCli(["run", path, "--out", join(dir, "bad-data-run")])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`sous: ${badData}:3: messages[0].role: expected "system" | "user" | "assistant", got "robot"`)
    expect(result.stderr).not.toMatch(stackLine)
    const verbose = runCli(["run", path, "--out", join(dir, "bad-data-run-2"), "--verbose"])
    expect(verbose.code).toBe(1)
    expect(verbose.stderr).toContain("DatasetRowError")
  })

  it("refuses a missing tokenizer.json before writing anything", () => {
    const out = join(dir, "no-tokenizer")
    const result = runCli(["run", write("hf.yaml", recipe("tokenizer:\n  kind: huggingface\n  path: missing/tokenizer.json\n")), "--out", out])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("tokenizer.path:")
    expect(result.stderr).toContain("missing/tokenizer.json does not exist")
    expect(existsSync(out)).toBe(false)
  })

  it("refuses a store it has no adapter for, or a malformed URI, before writing anything", () => {
    const out = join(dir, "gs-run")
    const result = runCli(["run", write("gs.yaml", recipe("checkpoint:\n  uri: gs://bucket/prefix\npublish:\n  repo: s3://bucket/x\n")), "--out", out])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('checkpoint.uri: sous reads and writes local paths, file://, s3:// and hf:// URIs, got "gs://bucket/prefix"')
    expect(result.stderr).toContain('publish.repo: publishing needs an hf://user/name repository, got "s3://bucket/x"')
    expect(existsSync(out)).toBe(false)
    const malformed = runCli(["validate", write("bad-uris.yaml", recipe("checkpoint:\n  uri: s3://Bad_Bucket/p\npublish:\n  repo: hf://alice/model/sub\n"))])
    expect(malformed.code).toBe(1)
    expect(malformed.stderr).toContain("checkpoint.uri:")
    expect(malformed.stderr).toContain("Bad_Bucket")
    expect(malformed.stderr).toContain("publish.repo: a model is published to a model repository, hf://user/name, without a path")
  })

  it("refuses to run into a directory that holds a run", () => {
    const out = join(dir, "taken")
    mkdirSync(out)
    writeFileSync(join(out, "metrics.jsonl"), "")
    const result = runCli(["run", write("taken.yaml", recipe()), "--out", out])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("already holds a run (metrics.jsonl)")
  })

  it("checks the data before --overwrite removes a previous run", () => {
    const out = join(dir, "kept")
    mkdirSync(join(out, "checkpoints/final"), { recursive: true })
    writeFileSync(manifestFile(out, "final"), "{}")
    const badData = write("bad-overwrite.jsonl", "{not json}\n")
    const result = runCli(["run", write("overwrite.yaml", `kind: supervised\ndata:\n  train: ${badData}\n`), "--out", out, "--overwrite"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`${badData}:1: not valid JSON`)
    expect(existsSync(manifestFile(out, "final"))).toBe(true)
  })

  it("plans a recipe: the tree and its schedule", () => {
    const result = runCli(["plan", write("plan.yaml", recipe("training:\n  steps: 30\neval:\n  every: 10\n"))])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain("loop train × totalSteps")
    expect(result.stdout).toContain("when every 10 steps, before the last")
    expect(result.stdout).toContain("steps: 30 optimizer steps in batches of 16")
  })
})
