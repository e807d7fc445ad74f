import { existsSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { suiteDirectory } from "../support/temp-directory.js"
import { runCli } from "./run-cli.js"

// What `sous run` refuses, `sous validate` refuses first, with the same message, and a run
// refuses it before it writes its directory (shown for one case of each check: they are
// the same checks, `checkRecipe`).
const dir = suiteDirectory("validate-checks")
const write = (name: string, text: string) => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const chat = (question: string) => JSON.stringify({ messages: [{ role: "user", content: question }, { role: "assistant", content: "2" }] })
const train = join(dir, "train.jsonl")
beforeAll(() => {
  write("train.jsonl", `${chat("1+1?")}\n${chat("1+1?")}\n`)
})
const supervised = (data: string, extra = "") => write(`recipe-${Math.random().toString(36).slice(2)}.yaml`, `kind: supervised\ndata:\n  train: ${data}\n${extra}`)

/** `validate` refuses `recipe` with `expected`, in one message, not as an internal error. */
const refusedByValidate = (recipe: string, expected: ReadonlyArray<string>) => {
  const result = runCli(["validate", recipe])
  expect(result.code, result.stderr).toBe(1)
  for (const text of expected) expect(result.stderr).toContain(text)
  expect(result.stderr).not.toContain("internal error")
}

/** `validate` and `run` both refuse `recipe` with `expected`, and the run writes nothing. */
const refusedByBoth = (recipe: string, expected: ReadonlyArray<string>) => {
  refusedByValidate(recipe, expected)
  const out = join(dir, `run-${Math.random().toString(36).slice(2)}`)
  const run = runCli(["run", recipe, "--out", out])
  expect(run.code, run.stderr).toBe(1)
  for (const text of expected) expect(run.stderr).toContain(text)
  expect(existsSync(out)).toBe(false)
}

describe("validate and run share their checks", () => {
  it("refuses empty and blank-only datasets, naming the field and the file", () => {
    const empty = write("empty.jsonl", "")
    refusedByBoth(supervised(empty), ["data.train:", `${empty} holds no rows`])
    const blank = write("blank.jsonl", "\n  \n\n")
    const preference = write("preference.yaml", `kind: preference\ndata:\n  train: ${blank}\n`)
    refusedByValidate(preference, ["data.train:", `${blank} holds no rows`])
    refusedByValidate(supervised(train, `  eval: ${blank}\n`), ["data.eval:", `${blank} holds no rows`])
  })

  it("refuses a row with no trained token (or, to distill, no room for a reply) within the context, naming its file and line", () => {
    const long = write("long.jsonl", `${chat("1+1?")}\n${chat("x".repeat(200))}\n`)
    refusedByBoth(supervised(long, "model:\n  contextLength: 32\n"), [`${long}:2: no token is trained`])
    const distill = write("distill.yaml", `kind: distill\ndata:\n  train: ${long}\nmodel:\n  contextLength: 32\nteacher:\n  store: ${join(dir, "teacher")}\n`)
    refusedByValidate(distill, [`${long}:2: the prompt has`, "leaving no room for a reply"])
  })

  it("refuses sizes no run can hold, naming the field and the memory it would need", () => {
    refusedByBoth(supervised(train, "training:\n  batchSize: 1e12\n"), ["training.batchSize: 1e12 rows", "would need"])
    refusedByValidate(supervised(train, "model:\n  contextLength: 100000000\n"), ["model.contextLength:", "would need"])
    refusedByValidate(supervised(train, "model:\n  width: 1048576\n  heads: 4\n"), ["model.width:", "would need"])
  })
})
