// Supervised fine-tuning in one flat loop, straight against the ports: no recipe, no workflow,
// no stages. A small transformer starts from random weights and learns the chats of
// examples/sft-arithmetic (two numbers below 100 and their sum).
//
//   npx node examples/sl-loop.ts                                   # 300 steps
//   npx node examples/sl-loop.ts --steps 100 --out runs/loops/sl.json
//   npx node examples/sl-loop.ts --data examples/rl-arithmetic/data/sft.jsonl --save runs/loops/sft.bin
//
// The last one trains the starting model of examples/rl-loop.ts. --steps (or STEPS):
// optimizer steps, 300 by default. --out (or OUT): a JSON file of every step's loss and the
// summary. --save: a file for the final training state (weights and optimizer state).
// --data: another chat JSONL file to train on. --device: auto (default), wasm or cpu.
// Seed 0: a run repeats its losses exactly.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Schema } from "effect"
import { adamParams, ChatRow, type Datum, epochOrder, renderChat, supervisedDatum } from "sous"
import { type LocalDevice, makeByteTokenizer, makeLocalBackend } from "sous/adapters"

const { values: args } = parseArgs({
  options: {
    steps: { type: "string" },
    out: { type: "string" },
    save: { type: "string" },
    data: { type: "string" },
    device: { type: "string" }
  }
})
const steps = Number(args.steps ?? process.env["STEPS"] ?? 300)
const out = args.out ?? process.env["OUT"]
const dataFile = args.data ?? join(import.meta.dirname, "sft-arithmetic/data/train.jsonl")
const device = (args.device ?? "auto") as LocalDevice
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${args.steps ?? process.env["STEPS"]}`)

// The hyperparameters, all of them. The model is the one examples/sft-arithmetic/recipe.yaml
// trains (2 layers, width 64, 4 heads, context 64; about 0.14 M weights over the byte tokenizer).
const seed = 0
const batchSize = 16
const learningRate = 3e-3 // the peak: reached after warmupSteps, then falling linearly towards 0
const warmupSteps = 10
const contextLength = 64

const program = Effect.gen(function*() {
  const started = performance.now()

  // 1. The backend and a training client: a transformer built from `seed`.
  const tokenizer = makeByteTokenizer()
  const backend = yield* makeLocalBackend({ device })
  const client = yield* backend.createTrainingClient({
    baseModel: "sous/tiny-transformer",
    architecture: { kind: "transformer", vocabSize: tokenizer.vocabSize, contextLength, width: 64, layers: 2, heads: 4 },
    seed
  })
  const info = yield* client.info
  console.log(`model: ${info.parameterCount} weights on ${info.device}; data: ${dataFile}`)

  // 2. Data: each chat rendered as "<|bos|>User: ...\n\nAssistant: 89<|eos|>", then made a
  // Datum: input = tokens[:-1], target_tokens = tokens[1:], weight 1 on the answer and its
  // <|eos|> (the tokens the model must learn to write), 0 on the rest.
  const lines = readFileSync(dataFile, "utf8").split("\n").filter((line) => line.trim() !== "")
  const data: Array<Datum> = []
  for (const line of lines) {
    const row = Schema.decodeUnknownSync(ChatRow)(JSON.parse(line))
    const rendered = yield* renderChat(row.messages, tokenizer, "role-colon", "assistant")
    data.push(supervisedDatum(rendered, contextLength))
  }
  // The order the batches take: a seeded shuffle of the data, a new one each epoch.
  const epochs = Math.ceil((steps * batchSize) / data.length)
  const order = Array.from({ length: epochs }, (_, epoch) => epochOrder(data.length, seed, epoch, true)).flat()

  // 3. The loop: forward/backward with cross_entropy, then an AdamW step. Both calls are
  // two-phase: each returns a Pending at once, so the optimizer step is queued behind the
  // gradients before we wait for either (a remote backend runs them back to back).
  const losses: Array<number> = []
  for (let step = 0; step < steps; step++) {
    const batch = order.slice(step * batchSize, (step + 1) * batchSize).map((index) => data[index]!)
    const lr = learningRate * Math.min(1, (step + 1) / warmupSteps) * (1 - step / steps)
    const stepStarted = performance.now()

    const gradients = yield* client.forwardBackward(batch, "cross_entropy")
    const update = yield* client.optimStep(adamParams({ learning_rate: lr, eps: 1e-8, grad_clip_norm: 1 }))
    const output = yield* gradients.result
    const optim = yield* update.result

    // loss:sum is the summed NLL of the trained tokens, weights:sum how many there were.
    const loss = output.metrics["loss:sum"]! / output.metrics["weights:sum"]!
    losses.push(loss)
    console.log(
      `step ${step + 1}/${steps} | loss ${loss.toFixed(4)} | lr ${lr.toExponential(2)} | ` +
        `grad norm ${optim.metrics["grad_norm:mean"]?.toFixed(3)} | ${((performance.now() - stepStarted) / 1000).toFixed(2)} s`
    )
  }

  // 4. Keep the result: the training state, for examples/rl-loop.ts --from.
  if (args.save !== undefined) {
    const state = yield* (yield* client.saveState("final")).result
    if (state._tag !== "Bytes") throw new Error("this backend keeps its state remotely; there are no bytes to write")
    mkdirSync(dirname(args.save), { recursive: true })
    writeFileSync(args.save, state.bytes)
    console.log(`saved the training state to ${args.save} (${state.bytes.length} bytes)`)
  }

  const mean = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0) / values.length
  const seconds = (performance.now() - started) / 1000
  const summary = {
    steps,
    batchSize,
    firstLoss: losses[0]!,
    lastLoss: losses.at(-1)!,
    meanLossLast5: mean(losses.slice(-5)),
    seconds,
    losses
  }
  console.log(
    `done: ${steps} steps in ${seconds.toFixed(1)} s | loss ${summary.firstLoss.toFixed(4)} at step 1 → ` +
      `${summary.meanLossLast5.toFixed(4)} (mean of the last ${Math.min(5, steps)}), ` +
      `${(100 * (1 - summary.meanLossLast5 / summary.firstLoss)).toFixed(1)}% lower`
  )
  if (out !== undefined) {
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, JSON.stringify(summary, null, 2) + "\n")
  }
})

// The clients hold their tensors until this scope closes.
await Effect.runPromise(Effect.scoped(program))
