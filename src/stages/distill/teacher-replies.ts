import { Effect } from "effect"
import { Tokenizer } from "../../ports/index.js"
import { supervisedDatum } from "../rendering/datum-builder.js"
import { DistillKeys } from "./distill-keys.js"
import { RunKeys } from "../run/run-keys.js"
import { samplePrompts } from "../sampling/sample-prompts.js"
import { sampleSeed } from "../sampling/sample-seed.js"
import { defineStage } from "../run/stage.js"
import { teacherError, teacherSampler } from "./teacher-scoring.js"

/** How the teacher replies in off-policy distillation. */
export interface TeacherRepliesConfig {
  /** Replies sampled per prompt. */
  readonly groupSize: number
  readonly maxTokens: number
  readonly temperature: number
  /** The recipe's seed: with the step and the prompt's index it fixes every draw. */
  readonly seed: number
  /** The student's context: longer sequences are cut, as training data is. */
  readonly contextLength: number
}

/**
 * Off-policy distillation's data: the teacher samples `groupSize` replies to each prompt of
 * the batch, and each prompt + reply becomes a `cross_entropy` datum that trains the reply's
 * tokens (its end marker included when the teacher ended the turn), as supervised data does.
 * Sampled step by step rather than all up front, so a run pays for the replies it trains
 * on and a later epoch sees fresh ones; the seeds (recipe seed, step, prompt index) make a
 * resumed run train on the very replies the original run would have.
 */
export const teacherReplies = (config: TeacherRepliesConfig) =>
  defineStage({
    name: "teacher-replies",
    description: `teacher samples ${config.groupSize} replies per prompt (at most ${config.maxTokens} tokens, temperature ${config.temperature}) as cross_entropy datums`,
    reads: [DistillKeys.promptBatch],
    writes: [RunKeys.batch],
    run: (context) =>
      Effect.scoped(Effect.gen(function*() {
        const tokenizer = yield* Tokenizer
        const teacher = yield* teacherSampler
        const samples = yield* samplePrompts(teacher.sampler, tokenizer, context.get(DistillKeys.promptBatch), {
          count: config.groupSize,
          maxTokens: config.maxTokens,
          temperature: config.temperature,
          seedOf: (index) => sampleSeed(config.seed, context.step, index)
        }).pipe(Effect.mapError(teacherError(teacher.description, "reply to the prompts")))
        context.set(RunKeys.batch, samples.map(({ prompt, completion }) =>
          supervisedDatum({
            tokens: [...prompt.tokens, ...completion.tokens],
            weights: [...prompt.tokens.map(() => 0), ...completion.tokens.map(() => 1)]
          }, config.contextLength)))
      }))
  })
