/** One enclosing loop of the running stage. */
export interface LoopStatus {
  readonly name: string
  /** Current iteration, from 0. */
  readonly index: number
  /** Number of iterations the loop runs in all. */
  readonly times: number
}

/**
 * What a run is doing, for progress displays. The runner publishes a new value when each
 * stage starts and ends and when the run finishes.
 */
export interface WorkflowStatus {
  readonly phase: "pending" | "running" | "succeeded" | "failed" | "interrupted"
  /** The stage running now, or the last one that ran. */
  readonly stage: string | undefined
  /** Position of that stage, in the cursor's format. */
  readonly position: ReadonlyArray<number>
  readonly step: number
  /** Enclosing loops, outermost first. */
  readonly loops: ReadonlyArray<LoopStatus>
}

/** The status before a run starts: the value to create a status `SubscriptionRef` with. */
export const pendingStatus: WorkflowStatus = {
  phase: "pending",
  stage: undefined,
  position: [],
  step: 0,
  loops: []
}
