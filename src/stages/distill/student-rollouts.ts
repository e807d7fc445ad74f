import { Effect } from "effect"
import { type Datum, Tokenizer } from "../../ports/index.js"
import { type DistillRollouts, DistillKeys } from "./distill-keys.js"
import { currentPolicySampler } from "../sampling/policy-sampler.js"
import { addToTally, emptyTally, reverseKlAdvantages, tallyMeans } from "./reverse-kl.js"
import { rolloutDatum } from "../rl/rollout-datum.js"
import { samplePrompts } from "../sampling/sample-prompts.js"
import { sampleSeed } from "../sampling/sample-seed.js"
import { defineStage } from "../run/stage.js"
import { teacherLogprobs, teacherSampler } from "./teacher-scoring.js"
import type { StepLoss } from "../training/train-step.js"

/** How the student samples in on-policy distillation. */
export interface StudentRolloutsConfig {
  /** Replies sampled per prompt. */
  readonly groupSize: number
  readonly maxTokens: number
  readonly temperature: number
  /** The recipe's seed: with the step and the prompt's index it fixes every draw. */
  readonly seed: number
  /** The student's context: datums longer than it are cut, as training data is. */
  readonly contextLength: number
}

/**
 * On-policy distillation's sampling half: the student (its weights as of this step) samples
 * `groupSize` replies to each prompt of the batch, the teacher scores every sampled token,
 * and each token's advantage is its negative reverse KL, `−(log p_student − log p_teacher)`.
 * Both samplers live for this stage only. Seeds come from the recipe seed, the step and the
 * prompt's place in the batch, so a resumed run samples what the original run sampled.
 */
export const studentRollouts = (config: StudentRolloutsConfig) =>
  defineStage({
    name: "student-rollouts",
    description: `student samples ${config.groupSize} replies per prompt (at most ${config.maxTokens} tokens, temperature ${config.temperature}), teacher scores each token`,
    reads: [DistillKeys.promptBatch],
    writes: [DistillKeys.rollouts],
    run: (context) =>
      Effect.scoped(Effect.gen(function*() {
        const tokenizer = yield* Tokenizer
        const student = yield* currentPolicySampler(`student-step-${context.step}`)
        const teacher = yield* teacherSampler
        const samples = yield* samplePrompts(student, tokenizer, context.get(DistillKeys.promptBatch), {
          count: config.groupSize,
          maxTokens: config.maxTokens,
          temperature: config.temperature,
          seedOf: (index) => sampleSeed(config.seed, context.step, index)
        })
        const scores = yield* teacherLogprobs(teacher, samples)
        const datums: Array<Datum> = []
        let tally = emptyTally
        samples.forEach(({ prompt, completion }, index) => {
          const teacherScores = scores[index]!
          datums.push(rolloutDatum({
            prompt: prompt.tokens,
            completion: completion.tokens,
            logprobs: completion.logprobs,
            advantages: reverseKlAdvantages(completion.logprobs, teacherScores)
          }, config.contextLength))
          tally = addToTally(tally, completion.logprobs, teacherScores)
        })
        const rollouts: DistillRollouts = {
          datums,
          tally,
          samples: samples.length,
          finished: samples.filter(({ completion }) => completion.finished).length
        }
        context.set(DistillKeys.rollouts, rollouts)
      }))
  })

/**
 * On-policy distillation's training half: `importance_sampling` on the rollouts (the
 * sampler is this step's weights, so the ratio is 1 and the gradient is the advantage-weighted
 * policy gradient). Reports the step's reverse KL per sampled token, which the loss per
 * token equals at ratio 1, the teacher's NLL of the sampled tokens, the mean reply length
 * and the fraction of replies that ended with the end marker.
 */
export const reverseKlLoss: StepLoss<DistillRollouts> = {
  description: "importance_sampling, per-token advantage −(log p_student − log p_teacher)",
  batch: DistillKeys.rollouts,
  submit: (client, rollouts) => client.forwardBackward(rollouts.datums, "importance_sampling"),
  metrics: (output, rollouts) => {
    const { reverseKl, teacherNll } = tallyMeans(rollouts.tally)
    return {
      loss: (output.metrics["loss:sum"] ?? Number.NaN) / Math.max(rollouts.tally.tokens, 1),
      reverse_kl: reverseKl,
      teacher_nll: teacherNll,
      tokens: rollouts.tally.tokens,
      reply_tokens: rollouts.tally.tokens / Math.max(rollouts.samples, 1),
      finished: rollouts.finished / Math.max(rollouts.samples, 1)
    }
  }
}
