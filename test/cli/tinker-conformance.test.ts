import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { readMetrics } from "../support/run-directory.js"
import { suiteDirectory } from "../support/temp-directory.js"
import { type LoopbackServer, startLoopbackServer } from "../support/tinker-server.js"
import { compareRuns } from "./compare-runs.js"
import { root, runCliAsync } from "./run-cli.js"

// Conformance of the tinker adapter: every example recipe, shortened further than its own
// e2e test (these runs compare backends, they do not measure learning), runs twice with the
// same seed: in-process on the local backend, and through the `tinker` adapter against
// `sous serve`'s server on loopback (the same local backend behind the Tinker protocol).
// Every metric each step logs, every evaluation and the summary must agree within 1e-5.
// Runs that start from a checkpoint (DPO, distillation, the RL stage) start from the
// checkpoint their own backend wrote: bytes in a local store, a tinker:// path on the server.
//
// The server fails 10% of requests, 2% in each way the protocol knows (503, 429, 408, 410 on
// polls, dropped connections; a failed submission is at random refused before it is applied
// or applied with its answer lost). Every run must still complete with the local run's numbers,
// and the server must have applied exactly as many optimizer steps as the client took: a
// retried request applied twice would show in both. (At 10% in each way, half of all
// requests failing, the runs complete as well, but the client's backoff makes them take
// minutes; test/adapters/tinker/tinker-backend.test.ts covers that rate.)
const faults = { rate5xx: 0.02, rate429: 0.02, rate408: 0.02, rate410: 0.02, rateDrop: 0.02, seed: 6 }

let server: LoopbackServer
// Shared: later recipes start from the sft-arithmetic run's checkpoints.
const work = suiteDirectory("conformance")
const example = (path: string) => join(root, "examples", path)

type Backend = "local" | "tinker"
const backendSetting = (backend: Backend) =>
  backend === "local" ? "backend.device=wasm" : `backend={kind: tinker, baseUrl: "${server.url}"}`

/** Runs `sous run recipe` on `backend` into `<work>/<name>-<backend>` and returns that directory. */
const run = async (name: string, backend: Backend, recipe: string, settings: ReadonlyArray<string>) => {
  const out = join(work, `${name}-${backend}`)
  const args = ["run", recipe, "--out", out, ...settings.flatMap((setting) => ["--set", setting])]
  const result = await runCliAsync(
    recipe.endsWith("pipeline.yaml") ? args : [...args, "--set", backendSetting(backend)],
    { TINKER_API_KEY: server.apiKey }
  )
  expect(result.stderr).not.toContain("sous:")
  expect(result.code).toBe(0)
  return out
}

/** Optimizer steps a run took: its logged steps but those that applied no update (an rl step with no group kept). */
const optimizerSteps = (runDir: string) => readMetrics(runDir).filter((line) => line.skipped !== 1).length

/**
 * Runs a recipe on both backends, one after the other, and checks that their results agree
 * and that the server applied one optimizer step per step the client took.
 */
const conforms = async (name: string, recipe: string, settings: (backend: Backend) => ReadonlyArray<string>, runDirs: ReadonlyArray<string> = [""]) => {
  const local = await run(name, "local", recipe, settings("local"))
  const applied = server.stats().optimizerSteps
  const remote = await run(name, "tinker", recipe, settings("tinker"))
  for (const dir of runDirs) compareRuns(join(local, dir), join(remote, dir), 1e-5)
  const taken = runDirs.reduce((total, dir) => total + optimizerSteps(join(remote, dir)), 0)
  expect(taken).toBeGreaterThan(0)
  expect(server.stats().optimizerSteps - applied).toBe(taken)
}

const sftStore = (backend: Backend) => join(work, `sft-arithmetic-${backend}`, "checkpoints")

/**
 * The first `rows` rows of an example's data file, as a file of the suite's: these runs compare
 * backends, so a slice does, and the DPO reference scoring and distillation's sampled
 * evaluations, which go over every row, take seconds instead of a minute.
 */
const slice = (path: string, rows: number) => {
  const file = join(work, `${path.replaceAll("/", "-")}-${rows}`)
  writeFileSync(file, readFileSync(example(path), "utf8").split("\n").slice(0, rows).join("\n") + "\n")
  return file
}

describe("the tinker adapter against sous serve, failing 10% of requests, agrees with the local backend", () => {
  beforeAll(async () => {
    server = await startLoopbackServer({ faults })
  })
  afterAll(async () => {
    await server.stop()
  })

  it("sft-arithmetic", async () => {
    await conforms("sft-arithmetic", example("sft-arithmetic/recipe.yaml"), () => [
      "training.steps=20", "eval.every=10", "checkpoint.every=10"
    ])
  }, 600_000)

  it("classify-digits", async () => {
    await conforms("classify-digits", example("classify-digits/recipe.yaml"), () => [
      "training.steps=20", "eval.every=10", "checkpoint.every=10"
    ])
  }, 600_000)

  it("dpo-preferences, from the sft-arithmetic checkpoint of its backend", async () => {
    await conforms("dpo-preferences", example("dpo-preferences/recipe.yaml"), (backend) => [
      `model.from.store=${sftStore(backend)}`, "training.steps=8", "eval.every=4", "optimizer.warmupSteps=2",
      `data.train=${slice("dpo-preferences/data/train.jsonl", 64)}`, `data.eval=${slice("dpo-preferences/data/eval.jsonl", 32)}`
    ])
  }, 600_000)

  it("distill-arithmetic, taught by the sft-arithmetic checkpoint of its backend", async () => {
    await conforms("distill-arithmetic", example("distill-arithmetic/recipe.yaml"), (backend) => [
      `teacher.store=${sftStore(backend)}`, "training.steps=6", "training.batchSize=4", "eval.every=3", "optimizer.warmupSteps=0",
      `data.train=${slice("sft-arithmetic/data/train.jsonl", 64)}`, `data.eval=${slice("sft-arithmetic/data/eval.jsonl", 32)}`
    ])
  }, 600_000)

  it("pipeline-sft-rl (and so rl-arithmetic): both stages", async () => {
    const stageSets = (backend: Backend, values: ReadonlyArray<string>) =>
      `[${[...values, backendSetting(backend)].map((value) => JSON.stringify(value)).join(", ")}]`
    await conforms("pipeline-sft-rl", example("pipeline-sft-rl/pipeline.yaml"), (backend) => [
      `stages.0.set=${stageSets(backend, ["training.steps=20", "eval.every=0", "checkpoint.every=0"])}`,
      `stages.1.set=${stageSets(backend, ["training.steps=4", "eval.every=2"])}`
    ], ["sft", "rl"])
  }, 600_000)

  it("met every kind of fault along the way", () => {
    const injected = server.stats().faultsByKind
    for (const kind of ["503", "429", "408", "410", "drop"] as const) expect(injected[kind], kind).toBeGreaterThan(5)
  })
})
