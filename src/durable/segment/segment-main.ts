/**
 * The segment process: `node dist/durable/segment/segment-main.js <runDir> <attemptId>`.
 *
 * Runs one attempt of a segment (see `runAttempt`) in a process of its own, so that training,
 * which blocks its thread, never blocks the orchestrator's event loop. It speaks the segment
 * protocol on stdout (one JSON object per line, `segment-protocol.ts`) and logs to stderr.
 * Exit code: 0 when it committed a checkpoint or the run finished, 3 when another attempt
 * committed first, 1 when it failed, 2 for a command line it cannot read. SIGTERM or SIGINT
 * interrupts it as Ctrl-C does `sous run`: a checkpoint being committed finishes committing,
 * an uncommitted one is removed.
 */
import { Cause, Effect, Exit, Fiber } from "effect"
import { pinoLoggerLayer } from "../../adapters/logging/pino-logger.js"
import { runAttempt } from "./run-attempt.js"
import { formatSegmentLine, segmentExitCode, type SegmentEnd, type SegmentLine } from "./segment-protocol.js"

const write = (line: SegmentLine) => {
  process.stdout.write(formatSegmentLine(line))
}

// An orchestrator that died closes the pipe: the attempt still finishes (what it commits is
// adopted by the next one) instead of dying of EPIPE, perhaps between a blob and its manifest.
process.stdout.on("error", () => {})

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  const [runDir, attemptId, ...extra] = argv
  if (runDir === undefined || attemptId === undefined || extra.length > 0) {
    process.stderr.write("usage: segment-main.js <runDir> <attemptId>\n")
    return 2
  }
  const program = runAttempt({ runDir, attemptId, report: write }).pipe(Effect.provide(pinoLoggerLayer()))
  const fiber = Effect.runFork(program)
  const interrupt = () => Effect.runFork(Fiber.interrupt(fiber))
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
  return segmentExitCode(end.outcome)
}

process.exitCode = await main(process.argv.slice(2))
