import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import type { LossRequest } from "../datum-batch.js"
import { addGradient, forwardBackwardPass, forwardPass, type LocalTrainer, type LossResult } from "../local-trainer.js"
import type { ParameterSet } from "../parameters.js"
import type { ShardCommand, ShardReply, ShardWorkerData, WeightValues } from "./shard-protocol.js"
import { joinResults, splitRequest } from "./shard-request.js"

/**
 * Data-parallel passes: each batch is cut into consecutive parts, the first run on this
 * thread and one on each worker thread (a TensorFlow.js engine and a copy of the weights
 * each), and the workers' gradients are added to this thread's in part order. The optimizer
 * runs here alone; a worker gets the weights again before its next pass after they change.
 * The sums are the same every time for a fixed number of workers; a different number adds
 * the same terms in another order, so results differ by rounding.
 */
export interface ShardPool {
  /** The pass of `request`; a backward pass adds its gradients to the trainer's accumulated ones. */
  readonly run: (request: LossRequest, backward: boolean) => Promise<LossResult>
  /** Says which weights changed (`trained` after an optimizer step, `all` after a load): the next pass sends them. */
  readonly weightsChanged: (which: "trained" | "all") => void
  /** Ends the worker threads. */
  readonly close: () => Promise<void>
}

// The worker runs compiled JavaScript: beside this file in dist/, or from dist/ when this
// file runs from source (the tests).
const workerEntry = (): string => {
  const sibling = fileURLToPath(new URL("./shard-worker.js", import.meta.url))
  return existsSync(sibling) ? sibling : fileURLToPath(new URL("../../../../dist/adapters/local/parallel/shard-worker.js", import.meta.url))
}

/** A worker thread and the replies it owes, oldest first. */
interface ShardWorker {
  readonly thread: Worker
  readonly waiting: Array<{ readonly resolve: (reply: ShardReply) => void; readonly reject: (error: Error) => void }>
  /** Whether it lacks this thread's model weights, or the trained ones. */
  stale: { all: boolean; trained: boolean }
}

const valuesOf = (set: ParameterSet | undefined): WeightValues =>
  set === undefined ? [] : set.names.map((name) => [name, new Float32Array(set.variables.get(name)!.dataSync() as Float32Array)] as const)

/** Starts `workers` worker threads for `trainer`'s passes. */
export const startShardPool = (trainer: LocalTrainer, data: ShardWorkerData, workers: number): ShardPool => {
  let broken: Error | undefined
  const fail = (worker: ShardWorker, error: Error) => {
    broken ??= new Error(`a data-parallel worker thread failed: ${error.message}`)
    for (const waiter of worker.waiting.splice(0)) waiter.reject(broken)
  }
  const pool: Array<ShardWorker> = Array.from({ length: workers }, () => {
    // Stale at first: its first pass brings this thread's weights, whatever built or loaded them.
    const worker: ShardWorker = { thread: new Worker(workerEntry(), { workerData: data }), waiting: [], stale: { all: true, trained: true } }
    worker.thread.on("message", (reply: ShardReply) => worker.waiting.shift()?.resolve(reply))
    worker.thread.on("error", (error) => fail(worker, error))
    worker.thread.on("exit", (code) => fail(worker, new Error(`it exited with code ${code}`)))
    return worker
  })

  const send = (worker: ShardWorker, command: ShardCommand): Promise<ShardReply> =>
    new Promise((resolve, reject) => {
      worker.waiting.push({ resolve, reject })
      worker.thread.postMessage(command)
    })

  // Weights read once per pass, for every worker that lacks them.
  const weightsFor = (worker: ShardWorker, read: { all?: WeightValues; trained?: WeightValues }): WeightValues => {
    const { all, trained } = worker.stale
    worker.stale = { all: false, trained: false }
    if (all) return (read.all ??= [...valuesOf(trainer.model), ...valuesOf(trainer.lora)])
    if (trained) return (read.trained ??= valuesOf(trainer.trained))
    return []
  }

  const run = async (request: LossRequest, backward: boolean): Promise<LossResult> => {
    if (broken !== undefined) throw broken
    const [own, ...others] = splitRequest(request, workers + 1)
    const read = {}
    const replies = others.map((part, i) =>
      send(pool[i]!, { weights: weightsFor(pool[i]!, read), backward, request: part })
    )
    const result = (backward ? forwardBackwardPass : forwardPass)(trainer, own!)
    const answers = await Promise.all(replies)
    const results = answers.map((answer) => {
      if (answer.type === "failed") throw new Error(answer.message)
      return answer
    })
    if (backward) {
      for (const { gradients } of results) {
        trainer.trained.names.forEach((name, i) => addGradient(trainer, name, gradients[i]!))
      }
    }
    return joinResults([result, ...results.map((answer) => answer.result)])
  }

  return {
    run,
    weightsChanged: (which) => {
      for (const worker of pool) worker.stale = which === "all" ? { all: true, trained: true } : { ...worker.stale, trained: true }
    },
    close: async () => {
      broken ??= new Error("the data-parallel workers were closed")
      await Promise.all(pool.map((worker) => worker.thread.terminate()))
    }
  }
}
