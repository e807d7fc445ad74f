import type { FaultKind } from "./fault-injection.js"

/** What a server has done so far, for tests and benchmarks. */
export interface ServerStatsSnapshot {
  /** Optimizer steps applied, over every model. */
  readonly optimizerSteps: number
  /** Optimizer steps applied per model id. */
  readonly optimizerStepsByModel: Readonly<Record<string, number>>
  /** Requests seen (`/healthz` included), whatever their answer. */
  readonly requests: number
  /** Faults injected, over every kind. */
  readonly faults: number
  readonly faultsByKind: Readonly<Record<FaultKind, number>>
  /** Sampling sessions held now (each key's bounded by its quota). */
  readonly samplingSessions: number
  /** Training models held now. */
  readonly models: number
  /** Bytes of model memory held now over every key, as the budget counts them. */
  readonly memoryBytes: number
}

/** The counters behind {@link ServerStatsSnapshot}. */
export interface ServerStats {
  readonly requestSeen: () => void
  readonly faultInjected: (kind: FaultKind) => void
  readonly optimizerStepApplied: (modelId: string) => void
  readonly snapshot: () => Omit<ServerStatsSnapshot, "samplingSessions" | "models" | "memoryBytes">
}

/** Fresh counters. */
export const makeServerStats = (): ServerStats => {
  let requests = 0
  const faultsByKind: Record<FaultKind, number> = { "503": 0, "429": 0, "408": 0, "410": 0, drop: 0 }
  const steps = new Map<string, number>()
  return {
    requestSeen: () => {
      requests += 1
    },
    faultInjected: (kind) => {
      faultsByKind[kind] += 1
    },
    optimizerStepApplied: (modelId) => {
      steps.set(modelId, (steps.get(modelId) ?? 0) + 1)
    },
    snapshot: () => ({
      optimizerSteps: [...steps.values()].reduce((total, count) => total + count, 0),
      optimizerStepsByModel: Object.fromEntries(steps),
      requests,
      faults: Object.values(faultsByKind).reduce((total, count) => total + count, 0),
      faultsByKind: { ...faultsByKind }
    })
  }
}
