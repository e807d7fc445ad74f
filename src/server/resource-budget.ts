import { Schema } from "effect"
import { estimateSamplingMemory, type MemoryEstimate } from "../adapters/local/index.js"
import type { ModelArchitecture } from "../ports/index.js"
import type { Tenant } from "./api-keys.js"

/** A model or sampler its key's quota or the server's budget cannot hold; the message names the limit and the shortfall. */
export class BudgetRefusal extends Schema.TaggedError<BudgetRefusal>()("BudgetRefusal", { message: Schema.String }) {}

/** What a key (or the whole server) holds now. */
export interface Usage {
  readonly models: number
  readonly samplers: number
  readonly bytes: number
}

/** Memory and a model or sampler slot held for one model or sampler; `release` gives them back (only the first call counts). */
export interface Reservation {
  readonly release: () => void
}

/** The memory and counts every key holds, checked against the keys' quotas and the server's budget. */
export interface ResourceBudget {
  /**
   * Holds `estimate` for a new model or sampler of `tenant`, or answers why it cannot be held
   * (which limit, and by how much), prefixed with `operation`. A sampler is not refused for the
   * count: the caller frees the key's least recently used one instead.
   */
  readonly reserve: (tenant: Tenant, kind: "model" | "sampler", estimate: MemoryEstimate, operation: string) => Reservation | string
  /**
   * Why `bytes` more, needed for a while by one request (a batch's activations: `need` says
   * what), do not fit what `tenant` and the server have left; undefined when they do. Not held:
   * one model's requests run one at a time, so this bounds what one request can take.
   */
  readonly transientProblem: (tenant: Tenant, bytes: number, need: string, operation: string) => string | undefined
  readonly usage: (tenant: string) => Usage
  /** Bytes held over every key. */
  readonly totalBytes: () => number
}

const GiB = 1024 ** 3
const MiB = 1024 ** 2

/** Bytes as people read them: `12.3 GiB`, `48.0 MiB`. */
export const formatBytes = (bytes: number): string =>
  bytes >= GiB ? `${(bytes / GiB).toFixed(1)} GiB` : bytes >= MiB ? `${(bytes / MiB).toFixed(1)} MiB` : `${Math.ceil(bytes / 1024)} KiB`

/** A parameter count as people read it: `2.1 G`, `350.0 M`, `12 k`. */
const formatCount = (count: number): string =>
  count >= 1e9 ? `${(count / 1e9).toFixed(1)} G` : count >= 1e6 ? `${(count / 1e6).toFixed(1)} M` : `${Math.ceil(count / 1e3)} k`

/** What a model needs, in words: `12.3 GiB (2.1 G parameters with AdamW state)`. */
const describeNeed = (kind: "model" | "sampler", estimate: MemoryEstimate): string => {
  const what = kind === "sampler"
    ? "weights"
    : estimate.trainedParameters === estimate.parameters
    ? "with gradients and AdamW state"
    : `and ${formatCount(estimate.trainedParameters)} LoRA parameters with gradients and AdamW state`
  return `${formatBytes(estimate.bytes)} (${formatCount(estimate.parameters)} parameters ${what})`
}

/**
 * What a sampler holds: the weights of its architecture when it is known, else about the size
 * of the checkpoint it loads (`fileBytes`, at least its weights), else nothing the server can tell.
 */
export const samplerEstimate = (architecture: ModelArchitecture | undefined, fileBytes = 0): MemoryEstimate =>
  architecture === undefined ? { parameters: Math.ceil(fileBytes / 4), trainedParameters: 0, bytes: fileBytes } : estimateSamplingMemory(architecture)

/** A budget of `serverBytes` over every key. */
export const makeResourceBudget = (serverBytes: number): ResourceBudget => {
  const held = new Map<string, { models: number; samplers: number; bytes: number }>()
  let total = 0

  const usage = (tenant: string): Usage => held.get(tenant) ?? { models: 0, samplers: 0, bytes: 0 }

  const transientProblem = (tenant: Tenant, bytes: number, need: string, operation: string): string | undefined => {
    const { memoryBytes } = tenant.quota
    const keyLeft = memoryBytes - usage(tenant.name).bytes
    if (bytes > keyLeft) {
      return `${operation}: ${need} and key ${tenant.name} has ${formatBytes(Math.max(0, keyLeft))} of its ` +
        `${formatBytes(memoryBytes)} memory budget left, ${formatBytes(bytes - keyLeft)} too little`
    }
    const serverLeft = serverBytes - total
    if (bytes > serverLeft) {
      return `${operation}: ${need} and the server has ${formatBytes(Math.max(0, serverLeft))} of its ` +
        `${formatBytes(serverBytes)} memory budget left, ${formatBytes(bytes - serverLeft)} too little`
    }
    return undefined
  }

  const reserve = (tenant: Tenant, kind: "model" | "sampler", estimate: MemoryEstimate, operation: string): Reservation | string => {
    const now = usage(tenant.name)
    const { quota } = tenant
    const key = `key ${tenant.name}`
    if (kind === "model" && now.models >= quota.maxModels) {
      return `${operation}: ${key} holds ${now.models} models, its limit (maxModels ${quota.maxModels}); unload one first`
    }
    const problem = transientProblem(tenant, estimate.bytes, `the ${kind} needs ${describeNeed(kind, estimate)}`, operation)
    if (problem !== undefined) return problem
    const models = kind === "model" ? 1 : 0
    held.set(tenant.name, { models: now.models + models, samplers: now.samplers + 1 - models, bytes: now.bytes + estimate.bytes })
    total += estimate.bytes
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        const current = usage(tenant.name)
        const rest = { models: current.models - models, samplers: current.samplers - 1 + models, bytes: current.bytes - estimate.bytes }
        if (rest.models === 0 && rest.samplers === 0) held.delete(tenant.name)
        else held.set(tenant.name, rest)
        total -= estimate.bytes
      }
    }
  }

  return { reserve, transientProblem, usage, totalBytes: () => total }
}
