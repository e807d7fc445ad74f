/**
 * A shard worker: a worker thread with a TensorFlow.js engine and a trainer of its own,
 * which runs the passes of its share of each batch for the main thread (see `ShardPool`).
 * It holds no state of its own beyond the weights the main thread last sent; its gradients
 * go back with each backward pass and are cleared.
 */
import * as tf from "@tensorflow/tfjs"
import { Effect, References } from "effect"
import { parentPort, workerData } from "node:worker_threads"
import { messageOf } from "../../../ports/thrown-message.js"
import { clearGradients, createTrainer, forwardBackwardPass, forwardPass, type LocalTrainer } from "../local-trainer.js"
import { initTfRuntime } from "../tf-runtime.js"
import type { ShardCommand, ShardReply, ShardWorkerData, WeightValues } from "./shard-protocol.js"

/** Takes the weights the main thread sent: the model's and, under LoRA, the adapters' (their names differ). */
const assign = (trainer: LocalTrainer, values: WeightValues) => {
  for (const [name, value] of values) {
    const variable = trainer.model.variables.get(name) ?? trainer.lora?.variables.get(name)
    if (variable === undefined) throw new Error(`shard worker: no weight ${name}`)
    tf.tidy(() => variable.assign(tf.tensor(value, variable.shape, "float32")))
  }
}

const run = (trainer: LocalTrainer, command: ShardCommand): ShardReply => {
  assign(trainer, command.weights)
  if (!command.backward) return { type: "result", result: forwardPass(trainer, command.request), gradients: [] }
  const result = forwardBackwardPass(trainer, command.request)
  // Copies that own their buffers, so the buffers can move to the main thread.
  const gradients = trainer.trained.names.map((name) => trainer.gradients.get(name)!.slice())
  clearGradients(trainer)
  return { type: "result", result, gradients }
}

const port = parentPort!
const data = workerData as ShardWorkerData
// The main thread has logged which backend runs; a shard says nothing unless it fails.
await Effect.runPromise(initTfRuntime(data.device).pipe(Effect.provideService(References.MinimumLogLevel, "Warn")))
const trainer = createTrainer(data.architecture, data.seed, data.lora)
port.on("message", (command: ShardCommand) => {
  let reply: ShardReply
  try {
    reply = run(trainer, command)
  } catch (error) {
    reply = { type: "failed", message: messageOf(error) }
  }
  // The gradients' buffers move to the main thread rather than being copied.
  port.postMessage(reply, reply.type === "result" ? reply.gradients.map((gradient) => gradient.buffer as ArrayBuffer) : [])
})
