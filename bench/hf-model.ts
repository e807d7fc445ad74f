/**
 * `npm run bench` (Hugging Face part): sous's local backend on a model of SmolLM2-135M's
 * shape (random weights, bfloat16 like the real checkpoint; see bench/hf-random-model.ts),
 * against transformers + PyTorch on the same directory and the same token ids, in one run:
 *
 * - load: the time to load the checkpoint into a training client (read, bfloat16 to float32,
 *   build the model), against `LlamaForCausalLM.from_pretrained(dir, dtype=float32)`;
 * - sampling: greedy tokens per second of one sequence, `--new-tokens` new tokens after a
 *   `--prompt`-token prompt, prefill included, with a key/value cache on both sides;
 * - LoRA: optimizer steps per second (and tokens per second) on one batch of `--batch` rows
 *   of `--length` random ids, rank `--rank` adapters on q/k/v/o/gate/up/down_proj (PEFT's
 *   `get_peft_model` on the torch side); a step is forward, backward and AdamW;
 * - full fine-tuning: the same, every weight trained;
 * - memory: each phase's resident-set high-water mark, and on the sous side the bytes
 *   TensorFlow.js holds and the size of the tfjs-wasm heap.
 *
 * The sous side (bench/hf-sous-worker.ts) drives the local backend through its public ports,
 * as a recipe's stages do; the torch side is bench/hf-torch-reference.py. Every phase of each
 * side runs in a process of its own (see `hfPhases`), one at a time, sous's and torch's of a
 * phase back to back, who goes first alternating; a phase that fails (tfjs-wasm aborts when
 * its heap reaches 4 GiB) is reported as failed with its error and memory. A rate is taken
 * from the median timed step or request, after the untimed warmup. Without python3, torch or
 * transformers the bench says why and measures sous alone; without peft torch's LoRA fails,
 * saying so.
 *
 * Options: `--batch N` (4), `--length N` tokens per row (128), `--steps N` timed steps per
 * training phase (2), `--warmup N` untimed steps first (1), `--rank N` (16), `--prompt N`
 * (32), `--new-tokens N` (32), `--requests N` timed sample requests (2), `--threads N` for both
 * sides (1: tfjs-wasm runs one thread under Node; a larger count makes sous data-parallel
 * over that many workers, and gives torch that many threads), `--python PATH` (python3).
 * Run from the repository root.
 */
import { stat, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"
import { Effect } from "effect"
import { seededUniform } from "../src/adapters/local/token-sampler.js"
import { type HfBenchData, type HfPhase, hfPhases, type HfPhaseResult } from "./hf-phases.js"
import { smolLm2Config, smolLm2Parameters, writeRandomHfModel } from "./hf-random-model.js"
import { hfReport } from "./hf-report.js"
import { countOption, runBench, startLockstepChild } from "./report.js"
import { ompWaitPolicy, probeTorch } from "./torch-compare.js"

const { values } = parseArgs({
  options: {
    batch: { type: "string", default: "4" },
    length: { type: "string", default: "128" },
    steps: { type: "string", default: "2" },
    warmup: { type: "string", default: "1" },
    rank: { type: "string", default: "16" },
    prompt: { type: "string", default: "32" },
    "new-tokens": { type: "string", default: "32" },
    requests: { type: "string", default: "2" },
    threads: { type: "string", default: "1" },
    python: { type: "string", default: "python3" }
  }
})
const sizes = {
  batch: countOption("batch", values.batch, 1),
  length: countOption("length", values.length, 2),
  steps: countOption("steps", values.steps, 1),
  warmup: countOption("warmup", values.warmup, 0),
  rank: countOption("rank", values.rank, 1),
  prompt: countOption("prompt", values.prompt, 1),
  newTokens: countOption("new-tokens", values["new-tokens"], 1),
  requests: countOption("requests", values.requests, 1),
  threads: countOption("threads", values.threads, 1)
}
const python = values.python

/** Random ids below the vocabulary's size, the same for both sides. */
const benchData = (): HfBenchData => {
  const random = seededUniform(1)
  const ids = (count: number) => Array.from({ length: count }, () => Math.floor(random() * smolLm2Config.vocab_size))
  return { rows: Array.from({ length: sizes.batch }, () => ids(sizes.length + 1)), prompt: ids(sizes.prompt) }
}

/** The arguments both sides take, as `--name value` pairs. */
const sideArgs = (dataFile: string) => [
  "--data", dataFile,
  "--steps", String(sizes.steps),
  "--warmup", String(sizes.warmup),
  "--requests", String(sizes.requests),
  "--new-tokens", String(sizes.newTokens),
  "--rank", String(sizes.rank),
  "--threads", String(sizes.threads)
]

/**
 * Runs one phase on one side, in a process of its own, and returns what it printed: a child
 * that prints its one JSON line as its header and exits, which is how `startLockstepChild`
 * reads a child with no rounds.
 */
const runPhase = async (side: "sous" | "torch", phase: HfPhase, dir: string, dataFile: string): Promise<HfPhaseResult> => {
  const child = side === "sous"
    ? await startLockstepChild<HfPhaseResult, never>(`the sous ${phase} phase`, process.execPath, [
      fileURLToPath(new URL("./hf-sous-worker.js", import.meta.url)),
      phase,
      dir,
      ...sideArgs(dataFile),
      "--context-length", String(Math.max(sizes.length, sizes.prompt + sizes.newTokens))
    ])
    : await startLockstepChild<HfPhaseResult, never>(
      `the torch ${phase} phase`,
      python,
      ["bench/hf-torch-reference.py", phase, dir, ...sideArgs(dataFile)],
      { OMP_WAIT_POLICY: ompWaitPolicy }
    )
  await child.close()
  return child.header
}

/** One line per finished phase, so a long run shows where it is. */
const progress = (side: string, result: HfPhaseResult) =>
  console.log(
    `  ${side} ${result.phase}: ` +
    (result.failed === undefined ? result.seconds.map((seconds) => seconds.toFixed(2)).join(", ") + " s" : `failed: ${result.failed}`)
  )

const main = async (dir: string) => {
  const startedAt = performance.now()
  console.log(
    [
      "",
      "sous bench: a Hugging Face model of SmolLM2-135M's shape (random weights), sous's local backend against transformers + PyTorch",
      `training: batch ${sizes.batch} x ${sizes.length} tokens of random ids, cross_entropy (sum), AdamW; ` +
      `${sizes.warmup} warmup then ${sizes.steps} timed steps per phase; LoRA rank ${sizes.rank} on q/k/v/o/gate/up/down_proj`,
      `sampling: greedy, ${sizes.newTokens} new tokens after a ${sizes.prompt}-token prompt, batch 1, one untimed then ${sizes.requests} timed requests`,
      ""
    ].join("\n")
  )
  const modelDir = join(dir, "smollm2-135m-shape")
  const writeStartedAt = performance.now()
  const parameters = await Effect.runPromise(writeRandomHfModel(modelDir, smolLm2Config, 0))
  if (parameters !== smolLm2Parameters) throw new Error(`the model has ${parameters} weights, SmolLM2-135M ${smolLm2Parameters}`)
  const fileBytes = (await stat(join(modelDir, "model.safetensors"))).size
  console.log(
    `wrote ${modelDir}: ${parameters.toLocaleString("en-US")} weights, model.safetensors ${(fileBytes / 2 ** 20).toFixed(0)} MiB (bfloat16), ` +
    `in ${((performance.now() - writeStartedAt) / 1000).toFixed(1)} s`
  )
  const dataFile = join(dir, "data.json")
  await writeFile(dataFile, JSON.stringify(benchData()))

  const torchProbe = await probeTorch(python)
  let torchSkipped = torchProbe.available ? undefined : torchProbe.reason
  const sous = new Map<HfPhase, HfPhaseResult>()
  const torch = new Map<HfPhase, HfPhaseResult>()
  for (const [index, phase] of hfPhases.entries()) {
    // Who goes first alternates, so that neither always follows the other.
    const order = index % 2 === 0 ? (["sous", "torch"] as const) : (["torch", "sous"] as const)
    for (const side of order) {
      if (side === "torch" && torchSkipped !== undefined) continue
      const result = await runPhase(side, phase, modelDir, dataFile)
      progress(side, result)
      // Without transformers no phase can run: the first says so, and sous goes on alone.
      if (side === "torch" && phase === "load" && result.failed !== undefined) torchSkipped = result.failed
      else (side === "sous" ? sous : torch).set(phase, result)
    }
  }
  if (torchSkipped !== undefined) console.log(`\nPyTorch comparison skipped: ${torchSkipped}; measuring sous alone`)
  console.log("\n" + hfReport(sizes, sous, torchSkipped === undefined ? torch : undefined))
  console.log(`hf-model bench took ${((performance.now() - startedAt) / 1000).toFixed(1)} s`)
}

await runBench("sous-bench-hf-", (dir) => Effect.promise(() => main(dir)))
