/** Which checkpoints to keep: the last `keepLast` (0: all), every `keepEvery`-th step (0: none) and `final`. */
export interface RetentionPolicy {
  readonly keepLast: number
  readonly keepEvery: number
}

/** A committed checkpoint, as retention sees it. */
export interface CommittedCheckpoint {
  readonly name: string
  readonly step: number
}

/**
 * The checkpoints the policy lets go. `newest` (the one just committed) is never among
 * them, nor is `final`, whatever the policy says.
 */
export const checkpointsToDelete = (
  committed: ReadonlyArray<CommittedCheckpoint>,
  newest: string,
  policy: RetentionPolicy
): ReadonlyArray<CommittedCheckpoint> => {
  if (policy.keepLast === 0) return []
  const byStep = [...committed].sort((a, b) => a.step - b.step)
  const recent = new Set(byStep.slice(-policy.keepLast).map((c) => c.name))
  return byStep.filter((c) =>
    c.name !== newest && c.name !== "final" && !recent.has(c.name) &&
    !(policy.keepEvery > 0 && c.step % policy.keepEvery === 0)
  )
}
