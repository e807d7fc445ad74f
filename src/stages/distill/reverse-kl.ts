/**
 * The arithmetic of distillation by reverse KL, kept pure so it can be checked by hand.
 *
 * For a reply y sampled from the student, the reverse KL of the student to the teacher,
 * KL(student ‖ teacher) = E_y[log p_student(y) − log p_teacher(y)], is estimated per sampled
 * token by `log p_student(token) − log p_teacher(token)`. On-policy distillation minimises it
 * with a policy gradient whose per-token advantage is its negative: tokens the teacher likes
 * more than the student are pushed up, tokens it likes less are pushed down.
 */

/**
 * The logprobs of a completion's tokens out of `computeLogprobs` over prompt + completion
 * (one entry per token of that sequence, `null` for the first): the entries from
 * `promptLength` on. Fails with a message if the answer is too short or holds a `null` there.
 */
export const completionLogprobs = (
  sequenceLogprobs: ReadonlyArray<number | null>,
  promptLength: number,
  completionLength: number
): Array<number> | string => {
  if (promptLength < 1) return "a prompt needs at least one token"
  if (sequenceLogprobs.length !== promptLength + completionLength) {
    return `expected ${promptLength + completionLength} logprobs (prompt and completion), got ${sequenceLogprobs.length}`
  }
  const logprobs: Array<number> = []
  for (let index = promptLength; index < sequenceLogprobs.length; index++) {
    const logprob = sequenceLogprobs[index]
    if (typeof logprob !== "number" || Number.isNaN(logprob)) return `no logprob for completion token ${index - promptLength}`
    logprobs.push(logprob)
  }
  return logprobs
}

/**
 * Per-token advantages of on-policy distillation: `−(log p_student − log p_teacher)` for each
 * sampled token. The two arrays are the same tokens' logprobs under each model.
 */
export const reverseKlAdvantages = (
  studentLogprobs: ReadonlyArray<number>,
  teacherLogprobs: ReadonlyArray<number>
): Array<number> => {
  if (studentLogprobs.length !== teacherLogprobs.length) {
    throw new Error(`student and teacher logprobs differ in length: ${studentLogprobs.length} and ${teacherLogprobs.length}`)
  }
  return studentLogprobs.map((student, index) => teacherLogprobs[index]! - student)
}

/** Sums over sampled tokens, from which per-token means are reported. */
export interface ReverseKlTally {
  /** Σ (log p_student − log p_teacher). */
  readonly kl: number
  /** Σ −log p_teacher: how unlikely the teacher finds the student's tokens. */
  readonly teacherNll: number
  readonly tokens: number
}

/** The empty tally. */
export const emptyTally: ReverseKlTally = { kl: 0, teacherNll: 0, tokens: 0 }

/** A tally with one more completion's tokens. */
export const addToTally = (
  tally: ReverseKlTally,
  studentLogprobs: ReadonlyArray<number>,
  teacherLogprobs: ReadonlyArray<number>
): ReverseKlTally => {
  const advantages = reverseKlAdvantages(studentLogprobs, teacherLogprobs)
  return {
    kl: tally.kl - advantages.reduce((total, advantage) => total + advantage, 0),
    teacherNll: tally.teacherNll - teacherLogprobs.reduce((total, logprob) => total + logprob, 0),
    tokens: tally.tokens + studentLogprobs.length
  }
}

/** Per-token means of a tally (NaN without tokens: no measurement, not a perfect one). */
export const tallyMeans = (tally: ReverseKlTally): { readonly reverseKl: number; readonly teacherNll: number } => ({
  reverseKl: tally.tokens === 0 ? Number.NaN : tally.kl / tally.tokens,
  teacherNll: tally.tokens === 0 ? Number.NaN : tally.teacherNll / tally.tokens
})
