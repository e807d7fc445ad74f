import { Effect } from "effect"
import { MetricsSink, Tokenizer } from "../../ports/index.js"
import { DistillKeys } from "./distill-keys.js"
import { withEval } from "../evaluation/eval-summary.js"
import { currentPolicySampler } from "../sampling/policy-sampler.js"
import { addToTally, emptyTally, tallyMeans } from "./reverse-kl.js"
import { RunKeys } from "../run/run-keys.js"
import { samplePrompts } from "../sampling/sample-prompts.js"
import { sampleSeed } from "../sampling/sample-seed.js"
import { defineStage } from "../run/stage.js"
import { teacherLogprobs, teacherSampler } from "./teacher-scoring.js"

/** How the student samples for evaluation. */
export interface EvaluateReverseKlConfig {
  readonly maxTokens: number
  readonly temperature: number
  /** The recipe's seed: every evaluation draws with the same seeds. */
  readonly seed: number
}

// A draw position no training step reaches, so evaluation seeds never repeat a step's.
const evalDraw = 0xffffffff

/**
 * Held-out reverse KL of the student to the teacher: the student (its current weights)
 * samples one reply to each held-out prompt, the teacher scores every sampled token, and
 * `eval_reverse_kl` is the mean of `log p_student − log p_teacher` per sampled token.
 * `eval_teacher_nll` is the teacher's NLL of those tokens, `eval_reply_tokens` the mean reply
 * length and `eval_finished` the fraction that ended the turn. Every evaluation uses the same
 * seeds, so two evaluations differ by the weights, not by luck. Sent as an `eval` event and
 * kept in the run summary, where the best evaluation is the one of lowest reverse KL.
 */
export const evaluateReverseKl = (config: EvaluateReverseKlConfig) =>
  defineStage({
    name: "eval",
    description: `held-out reverse KL of one student reply per prompt (at most ${config.maxTokens} tokens, temperature ${config.temperature}), scored by the teacher`,
    reads: [DistillKeys.evalPrompts, RunKeys.summary],
    writes: [RunKeys.summary],
    run: (context) =>
      Effect.scoped(Effect.gen(function*() {
        const prompts = context.get(DistillKeys.evalPrompts)
        // No held-out prompts means no measurement; a KL of 0 would read as a perfect student.
        if (prompts.length === 0) return yield* Effect.logWarning("no held-out prompts; eval skipped")
        const tokenizer = yield* Tokenizer
        const student = yield* currentPolicySampler(`student-eval-${context.step}`)
        const teacher = yield* teacherSampler
        const samples = yield* samplePrompts(student, tokenizer, prompts, {
          count: 1,
          maxTokens: config.maxTokens,
          temperature: config.temperature,
          seedOf: (index) => sampleSeed(config.seed, evalDraw, index)
        })
        const scores = yield* teacherLogprobs(teacher, samples)
        const tally = samples.reduce((sum, { completion }, index) => addToTally(sum, completion.logprobs, scores[index]!), emptyTally)
        const { reverseKl, teacherNll } = tallyMeans(tally)
        const metrics = {
          eval_reverse_kl: reverseKl,
          eval_teacher_nll: teacherNll,
          eval_tokens: tally.tokens,
          eval_reply_tokens: tally.tokens / samples.length,
          eval_finished: samples.filter(({ completion }) => completion.finished).length / samples.length
        }
        yield* (yield* MetricsSink).event({ name: "eval", step: context.step, data: metrics })
        context.set(
          RunKeys.summary,
          withEval(context.get(RunKeys.summary), context.step, metrics, (candidate, best) => candidate["eval_reverse_kl"]! < best["eval_reverse_kl"]!)
        )
      }))
  })
