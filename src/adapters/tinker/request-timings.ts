/**
 * Where the time of one remote request went: `submitMs` posting it (retries included),
 * `waitMs` from its acceptance to its result, and, when the server says so
 * (`X-Sous-Queue-Ms`, `X-Sous-Compute-Ms`), how long it waited for its turn and ran.
 */
export interface RequestTiming {
  readonly submitMs: number
  readonly waitMs: number
  readonly queueMs?: number
  readonly computeMs?: number
  /** Submissions and polls tried again, and resubmissions after an expired result. */
  readonly retries: number
}

/** A header that holds a duration in milliseconds, or undefined when it is absent or not a number. */
export const headerMillis = (headers: Headers, name: string): number | undefined => {
  const value = Number.parseFloat(headers.get(name) ?? "")
  return Number.isFinite(value) ? value : undefined
}

/**
 * The metrics an optimizer step reports for its requests (its forward/backward requests
 * and itself): summed `remote_submit_ms`, `remote_wait_ms`, `remote_queue_ms` and
 * `remote_compute_ms` (the last two only when the server reported them), and `remote_retries`.
 */
export const timingMetrics = (timings: ReadonlyArray<RequestTiming>): Record<string, number> => {
  const sum = (pick: (timing: RequestTiming) => number | undefined) =>
    timings.reduce((total, timing) => total + (pick(timing) ?? 0), 0)
  const reported = (pick: (timing: RequestTiming) => number | undefined) => timings.some((t) => pick(t) !== undefined)
  return {
    remote_submit_ms: sum((t) => t.submitMs),
    remote_wait_ms: sum((t) => t.waitMs),
    ...(reported((t) => t.queueMs) ? { remote_queue_ms: sum((t) => t.queueMs) } : {}),
    ...(reported((t) => t.computeMs) ? { remote_compute_ms: sum((t) => t.computeMs) } : {}),
    remote_retries: sum((t) => t.retries)
  }
}
