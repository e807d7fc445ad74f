import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Layer } from "effect"
import { localBackendLayer } from "../../../src/adapters/local/local-backend.js"
import { makeByteTokenizer } from "../../../src/adapters/tokenizers/byte-tokenizer.js"
import { type Datum, TeacherWeights, Tokenizer, TrainingBackend, TrainingClient, type TransformerArchitecture } from "../../../src/ports/index.js"
import { type CompletionPrompt, completionRendererFor, defineStage, type DistillRollouts, DistillKeys, emptySummary, evaluateReverseKl, RunKeys, type RunSummary, studentRollouts, teacherReplies } from "../../../src/stages/index.js"
import { runWorkflow, sequence, stage, workflow } from "../../../src/workflows/index.js"
import { byteTransformer } from "../../support/byte-transformer.js"
import { recordingSink } from "../../workflows/kit.js"

const tokenizer = makeByteTokenizer()
const architecture = byteTransformer(40)
const seed = 3
const groupSize = 3
const sampling = { groupSize, maxTokens: 6, temperature: 1, seed, contextLength: architecture.contextLength }

const prompts: ReadonlyArray<CompletionPrompt> = Effect.runSync(Effect.gen(function*() {
  const render = yield* completionRendererFor({ format: "role-colon" })
  return yield* Effect.forEach(["1 + 2?", "What is 7 + 5?"], (content) => render([{ role: "user", content }], tokenizer))
}))

/** The ports of a student built from `seed`, distilled from `teacher` (none: no TeacherWeights). */
const ports = (teacher: { readonly architecture: TransformerArchitecture; readonly seed: number } | undefined) =>
  Layer.provideMerge(
    Layer.effect(
      TrainingClient,
      Effect.flatMap(TrainingBackend, (backend) => backend.createTrainingClient({ baseModel: "tiny", architecture, seed }))
    ),
    Layer.mergeAll(
      localBackendLayer({ device: "wasm", decode: tokenizer.decode }),
      Layer.succeed(Tokenizer, tokenizer),
      teacher === undefined
        ? Layer.empty
        : Layer.succeed(TeacherWeights, { source: { baseModel: "tiny", ...teacher }, description: "the tiny teacher" }),
      recordingSink().layer
    )
  )

/** One on-policy sampling stage and one evaluation at step 0; answers the rollouts and the summary. */
const rolloutsAndEval = Effect.gen(function*() {
  let rollouts: DistillRollouts | undefined
  const capture = defineStage({
    name: "capture",
    description: "keep the rollouts",
    reads: [DistillKeys.rollouts],
    writes: [],
    run: (context) => Effect.sync(() => { rollouts = context.get(DistillKeys.rollouts) })
  })
  const result = yield* runWorkflow(workflow({
    name: "distill-rollouts",
    initial: [DistillKeys.promptBatch, DistillKeys.evalPrompts, RunKeys.summary],
    root: sequence(
      stage(studentRollouts(sampling)),
      stage(capture),
      stage(evaluateReverseKl({ maxTokens: sampling.maxTokens, temperature: 1, seed }))
    )
  }), {
    initialState: {
      [DistillKeys.promptBatch.name]: prompts,
      [DistillKeys.evalPrompts.name]: prompts,
      [RunKeys.summary.name]: emptySummary
    }
  })
  return { rollouts: rollouts!, summary: result.state[RunKeys.summary.name] as RunSummary }
})

const advantagesOf = (rollouts: DistillRollouts) => rollouts.datums.flatMap((datum) => [...datum.loss_fn_inputs["advantages"]!.data])

describe("on-policy distillation stages", () => {
  it.live("a student scored by a teacher with its own weights has zero reverse KL, in training and in evaluation", () =>
    Effect.gen(function*() {
      const { rollouts, summary } = yield* rolloutsAndEval.pipe(Effect.provide(ports({ architecture, seed })))
      assert.strictEqual(rollouts.samples, prompts.length * groupSize)
      assert.strictEqual(rollouts.datums.length, prompts.length * groupSize)
      assert.isAbove(rollouts.tally.tokens, 0)
      for (const advantage of advantagesOf(rollouts)) assert.isBelow(Math.abs(advantage), 1e-4)
      assert.isBelow(Math.abs(rollouts.tally.kl / rollouts.tally.tokens), 1e-5)
      const evaluation = summary.lastEval!.metrics
      assert.isBelow(Math.abs(evaluation["eval_reverse_kl"]!), 1e-5)
      assert.isAbove(evaluation["eval_tokens"]!, 0)
    }))

  it.live("another teacher gives nonzero advantages, −(log p_student − log p_teacher), drawn the same way every time", () =>
    Effect.gen(function*() {
      const first = yield* rolloutsAndEval.pipe(Effect.provide(ports({ architecture, seed: seed + 1 })))
      const again = yield* rolloutsAndEval.pipe(Effect.provide(ports({ architecture, seed: seed + 1 })))
      const advantages = advantagesOf(first.rollouts)
      assert.isAbove(Math.max(...advantages.map(Math.abs)), 1e-2)
      // The tally's KL is the sum of the negated advantages: the same numbers, two ways.
      const sum = advantages.reduce((total, advantage) => total + advantage, 0)
      assert.closeTo(first.rollouts.tally.kl, -sum, 1e-3)
      // Seeds fixed by the recipe seed, step and prompt index: a rerun samples the same tokens.
      assert.deepStrictEqual(again.rollouts.datums, first.rollouts.datums)
      assert.deepStrictEqual(again.summary.lastEval, first.summary.lastEval)
    }))

  it.live("a teacher whose vocabulary does not hold the student's tokens is refused, saying so", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(rolloutsAndEval.pipe(Effect.provide(ports({ architecture: { ...architecture, vocabSize: 100 }, seed }))))
      assert.isTrue(Exit.isFailure(exit))
      const message = String(Exit.isFailure(exit) ? exit.cause : "")
      assert.include(message, "the teacher (the tiny teacher) cannot score the student's samples")
      assert.include(message, "outside [0, 100)")
      assert.include(message, "student and teacher must share the tokenizer")
    }))

  it.live("a teacher whose context cannot hold prompt and reply is refused, saying so", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(rolloutsAndEval.pipe(Effect.provide(ports({ architecture: { ...architecture, contextLength: 8 }, seed }))))
      const message = String(Exit.isFailure(exit) ? exit.cause : "")
      assert.include(message, "more than the model's context length 8")
      assert.include(message, "the teacher's context must hold a prompt and the sampled reply")
    }))

  it.live("without a teacher the stage fails with what is missing", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(rolloutsAndEval.pipe(Effect.provide(ports(undefined))))
      assert.include(String(Exit.isFailure(exit) ? exit.cause : ""), "no teacher is provided")
    }))
})

describe("off-policy distillation data", () => {
  const replies = (teacher: { readonly architecture: TransformerArchitecture; readonly seed: number }) => Effect.gen(function*() {
    let batch: ReadonlyArray<Datum> = []
    const capture = defineStage({
      name: "capture",
      description: "keep the batch",
      reads: [RunKeys.batch],
      writes: [],
      run: (context) => Effect.sync(() => { batch = context.get(RunKeys.batch) })
    })
    yield* runWorkflow(workflow({
      name: "teacher-replies",
      initial: [DistillKeys.promptBatch],
      root: sequence(stage(teacherReplies(sampling)), stage(capture))
    }), { initialState: { [DistillKeys.promptBatch.name]: prompts } })
    return batch
  }).pipe(Effect.provide(ports(teacher)))
  const teacher = { architecture, seed: seed + 1 }

  it.live("trains each prompt's teacher replies with cross_entropy, the prompt untrained", () =>
    Effect.gen(function*() {
      const batch = yield* replies(teacher)
      assert.strictEqual(batch.length, prompts.length * groupSize)
      batch.forEach((datum, index) => {
        const prompt = prompts[Math.floor(index / groupSize)]!.tokens
        const input = datum.model_input.chunks.flatMap((chunk) => chunk.type === "encoded_text" ? chunk.tokens : [])
        const weights = datum.loss_fn_inputs["weights"]!.data
        // Targets before the prompt's end are prompt tokens (weight 0); every one after is the reply's.
        assert.deepStrictEqual(input.slice(0, prompt.length), [...prompt])
        assert.deepStrictEqual([...weights.slice(0, prompt.length - 1)], new Array(prompt.length - 1).fill(0))
        const reply = weights.slice(prompt.length - 1)
        assert.isAbove(reply.length, 0)
        assert.isAtMost(reply.length, sampling.maxTokens)
        for (const weight of reply) assert.strictEqual(weight, 1)
      })
      assert.deepStrictEqual(yield* replies(teacher), batch)
    }))

  it.live("a teacher that cannot read the prompts is refused, saying so", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(replies({ architecture: { ...architecture, vocabSize: 100 }, seed }))
      const message = String(Exit.isFailure(exit) ? exit.cause : "")
      assert.include(message, "the teacher (the tiny teacher) cannot reply to the prompts")
      assert.include(message, "outside [0, 100)")
    }))
})
