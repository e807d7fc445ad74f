// GRPO in one flat loop, straight against the ports: no recipe, no workflow, no stages.
// The policy answers the sums of examples/rl-arithmetic (two numbers below 20). Each step
// samples a group of answers to each question from the current weights, scores them with a
// reward function, and pushes up the answers that beat their group's mean.
//
// RL cannot teach a model from random weights to add in minutes (every answer scores 0, so
// every group is dropped and nothing is learned), so this loop starts from a state that
// examples/sl-loop.ts saved. The starting model of examples/rl-arithmetic works well: SFT on
// the demonstrations of a sloppy demonstrator, who ends three answers in five with a full
// stop ("18."). The reward checks the bare number, so what RL teaches first is the form.
//
//   npx node examples/sl-loop.ts --data examples/rl-arithmetic/data/sft.jsonl --steps 300 --save runs/loops/sft.bin
//   npx node examples/rl-loop.ts --from runs/loops/sft.bin --steps 30 --out runs/loops/rl.json
//
// --from: the state to start from (without it: random weights). --steps (or STEPS): RL steps,
// 30 by default. --out (or OUT): a JSON file of every step's reward and the summary. --lr: the
// learning rate, 3e-4 by default. --device: auto (default), wasm or cpu. Seed 0: a run
// repeats itself exactly.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { Effect, Schema } from "effect"
import {
  adamParams,
  ChatRow,
  completionRendererFor,
  type Datum,
  epochOrder,
  fromInts,
  groupAdvantages,
  isConstantGroup,
  rolloutDatum
} from "sous"
import { type LocalDevice, makeByteTokenizer, makeLocalBackend } from "sous/adapters"

const { values: args } = parseArgs({
  options: {
    steps: { type: "string" },
    out: { type: "string" },
    from: { type: "string" },
    device: { type: "string" },
    lr: { type: "string" }
  }
})
const steps = Number(args.steps ?? process.env["STEPS"] ?? 30)
const out = args.out ?? process.env["OUT"]
const device = (args.device ?? "auto") as LocalDevice
if (!Number.isInteger(steps) || steps < 1) throw new Error(`--steps must be a positive integer, got ${args.steps ?? process.env["STEPS"]}`)

// The hyperparameters, all of them. The model must be the one examples/sl-loop.ts trains.
const seed = 0
const batchSize = 16 // questions per step
const groupSize = 8 // answers sampled per question
const maxTokens = 8
const temperature = 1
const learningRate = Number(args.lr ?? 3e-4)
const contextLength = 64

// The reward: 1 for exactly the sum. A wrong answer that is a number of the right length
// earns partial credit, 0.5 × the share of its digits in place, so an answer that is nearly
// right beats one that is far off (the reward of examples/rl-arithmetic/digits-env.ts).
const reward = (reply: string, answer: string): number => {
  const given = reply.trim()
  if (given === answer) return 1
  if (!/^\d+$/.test(given) || given.length !== answer.length) return 0
  let right = 0
  for (let place = 1; place <= answer.length; place++) if (given.at(-place) === answer.at(-place)) right += 1
  return (0.5 * right) / answer.length
}

const mean = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1)

const program = Effect.gen(function*() {
  const started = performance.now()

  // 1. The backend and a training client, loaded with the weights sl-loop.ts saved (--from).
  const tokenizer = makeByteTokenizer()
  const backend = yield* makeLocalBackend({ device })
  const client = yield* backend.createTrainingClient({
    baseModel: "sous/tiny-transformer",
    architecture: { kind: "transformer", vocabSize: tokenizer.vocabSize, contextLength, width: 64, layers: 2, heads: 4 },
    seed
  })
  if (args.from !== undefined) {
    const bytes = readFileSync(args.from)
    yield* (yield* client.loadState({ _tag: "Bytes", bytes }, { optimizer: false })).result
  }
  console.log(`policy: ${args.from === undefined ? "random weights (no --from)" : args.from}`)

  // 2. Prompts: each question rendered up to where the assistant answers
  // ("<|bos|>User: What is 3 + 15?\n\nAssistant: "); the answer is the row's last message.
  // `stop` is what ends an assistant turn (<|eos|>): sampling stops there.
  const render = yield* completionRendererFor({ format: "role-colon" })
  const lines = readFileSync(join(import.meta.dirname, "rl-arithmetic/data/train.jsonl"), "utf8").split("\n")
  const questions: Array<{ prompt: { tokens: ReadonlyArray<number>; stop: ReadonlyArray<number> }; answer: string }> = []
  for (const line of lines.filter((line) => line.trim() !== "")) {
    const { messages } = Schema.decodeUnknownSync(ChatRow)(JSON.parse(line))
    questions.push({ prompt: yield* render(messages.slice(0, -1), tokenizer), answer: messages.at(-1)!.content.trim() })
  }
  const epochs = Math.ceil((steps * batchSize) / questions.length)
  const order = Array.from({ length: epochs }, (_, epoch) => epochOrder(questions.length, seed, epoch, true)).flat()

  // 3. The loop.
  const history: Array<{ step: number; reward: number; exact: number; numbers: number; groupsKept: number; loss: number | null }> = []
  for (let step = 0; step < steps; step++) {
    const stepStarted = performance.now()
    const batch = order.slice(step * batchSize, (step + 1) * batchSize).map((index) => questions[index]!)

    // 3a. Sample: a sampler over the current weights, `groupSize` answers to each question.
    // Every request is submitted before any is awaited. The sampler is freed with this
    // step's scope.
    const groups = yield* Effect.scoped(Effect.gen(function*() {
      const weights = yield* (yield* client.saveWeightsForSampler(`step-${step}`)).result
      const sampler = yield* backend.createSamplingClient(weights)
      const requests = []
      for (const [index, { prompt }] of batch.entries()) {
        requests.push(yield* sampler.sample(fromInts(prompt.tokens), groupSize, {
          max_tokens: maxTokens,
          temperature,
          top_k: -1,
          top_p: 1,
          seed: seed * 1_000_003 + step * batchSize + index,
          stop: [prompt.stop[0]!]
        }))
      }
      const answers = []
      for (const request of requests) answers.push((yield* request.result).sequences)
      return answers
    }))

    // 3b. Score every answer, centre each group on its mean (the advantage), drop the groups
    // whose answers all scored the same (no signal), and make one importance_sampling datum
    // per kept answer: prompt + answer tokens, with the sampler's logprob and the advantage
    // at each answer token (zeros at the prompt's, which are not trained).
    const data: Array<Datum> = []
    const rewards: Array<number> = []
    const replies: Array<string> = []
    let groupsKept = 0
    let trainedTokens = 0
    for (const [index, sequences] of groups.entries()) {
      const { prompt, answer } = batch[index]!
      const texts = sequences.map((sequence) =>
        tokenizer.decode(sequence.stop_reason === "stop" ? sequence.tokens.slice(0, -1) : sequence.tokens))
      const scores = texts.map((text) => reward(text, answer))
      replies.push(...texts)
      rewards.push(...scores)
      if (isConstantGroup(scores)) continue
      groupsKept += 1
      const advantages = groupAdvantages(scores)
      for (const [i, sequence] of sequences.entries()) {
        data.push(rolloutDatum({
          prompt: prompt.tokens,
          completion: sequence.tokens, // with the <|eos|> that ended it: stopping is trained too
          logprobs: sequence.logprobs ?? [],
          advantages: sequence.tokens.map(() => advantages[i]!)
        }, contextLength))
        trainedTokens += sequence.tokens.length
      }
    }

    // 3c. Train: forward/backward with importance_sampling, then AdamW, queued together.
    // A step whose groups were all dropped has no gradient, so it applies no update.
    let loss: number | null = null
    if (data.length > 0) {
      const gradients = yield* client.forwardBackward(data, "importance_sampling")
      const update = yield* client.optimStep(adamParams({ learning_rate: learningRate, eps: 1e-8, grad_clip_norm: 1 }))
      loss = (yield* gradients.result).metrics["loss:sum"]! / trainedTokens
      yield* update.result
    }

    // reward: mean over the step's answers; exact: the share that is exactly the sum;
    // numbers: the share that is a bare number (what the reward's partial credit asks for).
    const entry = {
      step: step + 1,
      reward: mean(rewards),
      exact: rewards.filter((score) => score === 1).length / rewards.length,
      numbers: replies.filter((text) => /^\d+$/.test(text.trim())).length / replies.length,
      groupsKept,
      loss
    }
    history.push(entry)
    console.log(
      `step ${entry.step}/${steps} | reward ${entry.reward.toFixed(3)} | exact ${entry.exact.toFixed(3)} | ` +
        `numbers ${entry.numbers.toFixed(3)} | ` +
        `groups kept ${groupsKept}/${batchSize} | loss ${loss === null ? "- (no update)" : loss.toFixed(4)} | ` +
        `${((performance.now() - stepStarted) / 1000).toFixed(2)} s`
    )
  }

  // The summary: the first `window` steps against the last.
  const window = Math.max(1, Math.min(5, Math.floor(steps / 2)))
  const averages = (entries: typeof history) => ({
    reward: mean(entries.map((entry) => entry.reward)),
    exact: mean(entries.map((entry) => entry.exact)),
    numbers: mean(entries.map((entry) => entry.numbers))
  })
  const [first, last] = [averages(history.slice(0, window)), averages(history.slice(-window))]
  const seconds = (performance.now() - started) / 1000
  const summary = { steps, from: args.from ?? null, learningRate, window, first, last, seconds, history }
  console.log(
    `done: ${steps} steps in ${seconds.toFixed(1)} s | mean of the first ${window} steps → the last ${window}: ` +
      `reward ${first.reward.toFixed(3)} → ${last.reward.toFixed(3)}, exact ${first.exact.toFixed(3)} → ` +
      `${last.exact.toFixed(3)}, numbers ${first.numbers.toFixed(3)} → ${last.numbers.toFixed(3)}`
  )
  if (out !== undefined) {
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(out, JSON.stringify(summary, null, 2) + "\n")
  }
})

await Effect.runPromise(Effect.scoped(program))
