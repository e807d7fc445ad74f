/**
 * The advantage arithmetic of GRPO-style RL, kept pure so it can be checked by hand.
 *
 * Each prompt gets a group of rollouts. A rollout's advantage is its reward minus the mean
 * reward of its group: the group is its own baseline, so no value model is needed, and a
 * reply is pushed up exactly when it did better than its siblings. A group whose rewards are
 * all equal has advantages of zero everywhere: it carries no signal, only cost, and is
 * dropped before training.
 */

/** Group-centred advantages: `reward − mean(rewards)` for each rollout of one group. */
export const groupAdvantages = (rewards: ReadonlyArray<number>): Array<number> => {
  if (rewards.length === 0) return []
  const mean = rewards.reduce((total, reward) => total + reward, 0) / rewards.length
  return rewards.map((reward) => reward - mean)
}

/** Whether every reward of a group is the same (such a group is dropped). */
export const isConstantGroup = (rewards: ReadonlyArray<number>): boolean =>
  rewards.every((reward) => reward === rewards[0])

/** The groups worth training on, with their advantages, and how many were dropped. */
export interface CentredGroups {
  /** Index of each kept group in the input, and its rollouts' advantages. */
  readonly kept: ReadonlyArray<{ readonly group: number; readonly advantages: ReadonlyArray<number> }>
  readonly dropped: number
}

/** Centres each group's rewards and drops the groups whose rewards are all equal. */
export const centreGroups = (groups: ReadonlyArray<ReadonlyArray<number>>): CentredGroups => {
  const kept: Array<{ group: number; advantages: ReadonlyArray<number> }> = []
  groups.forEach((rewards, group) => {
    if (!isConstantGroup(rewards)) kept.push({ group, advantages: groupAdvantages(rewards) })
  })
  return { kept, dropped: groups.length - kept.length }
}

/**
 * Per-token advantages of one sampled reply with a KL penalty against the reference weights:
 * `advantage − klCoef · (log p_sampled − log p_reference)` for each token. The difference is
 * a one-sample estimate of KL(policy ‖ reference) at that token, so tokens the policy has
 * made much likelier than the reference did are held back. With `klCoef` 0 every token
 * gets the episode's advantage.
 */
export const klPenalizedAdvantages = (
  advantage: number,
  sampledLogprobs: ReadonlyArray<number>,
  referenceLogprobs: ReadonlyArray<number>,
  klCoef: number
): Array<number> => {
  if (sampledLogprobs.length !== referenceLogprobs.length) {
    throw new Error(`sampled and reference logprobs differ in length: ${sampledLogprobs.length} and ${referenceLogprobs.length}`)
  }
  return sampledLogprobs.map((sampled, index) => advantage - klCoef * (sampled - referenceLogprobs[index]!))
}
