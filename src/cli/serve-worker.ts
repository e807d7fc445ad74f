/**
 * The thread `sous serve` runs its server in (see `serve-command.ts`): TensorFlow.js work
 * blocks the thread it runs on, so the main thread stays free to hear SIGTERM and end this
 * one. It starts the server from the settings the main thread checked, prints where it
 * listens, stops when told, and reports a failure to start as `{_tag, message}`.
 */
import { parentPort, workerData } from "node:worker_threads"
import { Cause, Effect, Fiber } from "effect"
import { pinoLoggerLayer } from "../adapters/logging/pino-logger.js"
import { messageOf } from "../ports/thrown-message.js"
import { type ServeStart, serveInThisThread, stopMessage } from "./serve-command.js"

const start = workerData as ServeStart
const fiber = Effect.runFork(serveInThisThread(start).pipe(Effect.provide(pinoLoggerLayer({ minimumLevel: start.verbose ? "Debug" : "Info" }))))
parentPort?.on("message", (message) => {
  if (message === stopMessage) Effect.runFork(Fiber.interrupt(fiber))
})
const exit = await Effect.runPromise(Fiber.await(fiber))
if (exit._tag === "Failure" && !Cause.hasInterruptsOnly(exit.cause)) {
  const failure = exit.cause.reasons.find(Cause.isFailReason)?.error
  parentPort?.postMessage(
    failure === undefined
      ? { _tag: "Defect", message: `internal error: ${messageOf(Cause.squash(exit.cause))}` }
      : { _tag: failure._tag, message: failure.message }
  )
}
parentPort?.close()
