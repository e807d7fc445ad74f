/**
 * The segment process: `node dist/durable/segment/segment-main.js <runDir> <attemptId>`.
 *
 * Runs one attempt (see `runAttempt`) in a process of its own, so that training, which blocks
 * its thread, never blocks the orchestrator's event loop. It speaks the segment protocol
 * (`segment-protocol.ts`): lines on stdout, commands on stdin, and logs to stderr. After each
 * checkpoint it commits it waits on stdin for `continue` or `stop`; asked to `checkpoint`, it
 * saves one after the step it is on. Exit code: 0 when it
 * committed a checkpoint or the run finished, 3 when another attempt committed first, 1 when
 * it failed, 2 for a command line it cannot read.
 *
 * SIGTERM or SIGINT interrupts it as Ctrl-C does `sous run`: a checkpoint being committed
 * finishes committing, an uncommitted one is removed. So does the end of stdin: the
 * orchestrator is gone (killed, its machine dead) and a new one will run the segment again,
 * so this one must not go on beside it.
 */
import { createInterface } from "node:readline"
import { Cause, Effect, Exit, Fiber, Option } from "effect"
import { pinoLoggerLayer } from "../../adapters/logging/pino-logger.js"
import type { CommittedCheckpoint } from "../../kitchen/options.js"
import { runAttempt } from "./run-attempt.js"
import {
  formatSegmentLine,
  parseSegmentCommand,
  segmentExitCode,
  type SegmentEnd,
  type SegmentLine
} from "./segment-protocol.js"

const write = (line: SegmentLine) => {
  process.stdout.write(formatSegmentLine(line))
}

// An orchestrator that died closes the pipe: the attempt stops as interrupted (see above)
// instead of dying of EPIPE, perhaps between a blob and its manifest.
process.stdout.on("error", () => {})

type Answer = "continue" | "stop"

/**
 * The orchestrator's commands: `checkpoint` raises a flag the training loop reads after each
 * step; `continue` and `stop` answer a commit, one at a time, as the attempt asks.
 */
const commands = (onEnd: () => void) => {
  const received: Array<Answer> = []
  let waiting: ((answer: Answer) => void) | undefined
  let asked = false
  createInterface({ input: process.stdin }).on("line", (text) => {
    const command = Option.getOrUndefined(parseSegmentCommand(text))
    if (command === undefined) return
    if (command.type === "checkpoint") asked = true
    else if (waiting === undefined) received.push(command.type)
    else waiting(command.type)
  }).on("close", onEnd)
  const afterCheckpoint = (checkpoint: CommittedCheckpoint) =>
    Effect.callback<Answer>((resume) => {
      asked = false
      write({ type: "waiting", checkpoint: checkpoint.name, step: checkpoint.step })
      const answer = (command: Answer) => {
        waiting = undefined
        resume(Effect.succeed(command))
      }
      const early = received.shift()
      if (early !== undefined) answer(early)
      else waiting = answer
      return Effect.sync(() => (waiting = undefined))
    })
  return { afterCheckpoint, checkpointAsked: () => asked }
}

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const [runDir, attemptId, ...extra] = argv
  if (runDir === undefined || attemptId === undefined || extra.length > 0) {
    process.stderr.write("usage: segment-main.js <runDir> <attemptId>\n")
    return 2
  }
  let interrupt = () => {}
  const { afterCheckpoint, checkpointAsked } = commands(() => interrupt())
  const program = runAttempt({ runDir, attemptId, report: write, afterCheckpoint, checkpointAsked }).pipe(Effect.provide(pinoLoggerLayer()))
  const fiber = Effect.runFork(program)
  interrupt = () => Effect.runFork(Fiber.interrupt(fiber))
  process.once("SIGTERM", interrupt)
  process.once("SIGINT", interrupt)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  const end: SegmentEnd = Exit.isSuccess(exit)
    ? exit.value
    : {
      type: "end",
      outcome: "failed",
      step: 0,
      checkpoint: null,
      message: Cause.hasInterruptsOnly(exit.cause) ? "the segment was interrupted" : Cause.pretty(exit.cause),
      errorTag: Cause.hasInterruptsOnly(exit.cause) ? "Interrupted" : "Defect",
      retryable: true
    }
  write(end)
  // stdin keeps the event loop alive; the attempt is over.
  process.stdin.destroy()
  return segmentExitCode(end.outcome)
}

process.exitCode = await main(process.argv.slice(2))
