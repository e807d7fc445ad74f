import { Cause, Effect, Exit, Fiber } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { checkCommandLine, commandWords, parseArgs, type ParsedArgs, unknownCommand } from "./args.js"
import type { CliError } from "./cli-error.js"
import { describeCause } from "./describe-error.js"
import { helpFor, helpTopic, usage, verbNames } from "./help.js"
import { packageVersion } from "./version.js"

/**
 * Reports a command line that cannot be understood, found before anything runs, and gives its
 * exit code (2): the message, then the help of the command the line names, if it names one
 * (what it takes), else the list of commands.
 */
const usageFailure = (argv: ReadonlyArray<string>, error: unknown): number => {
  const words = commandWords(argv)
  const topic = helpTopic(words[0] === "help" ? words.slice(1) : words)
  const help = topic === undefined ? `commands: ${verbNames.join(", ")}; sous --help describes them\n` : helpFor(topic)
  process.stderr.write(`sous: ${messageOf(error)}\n\n${help}`)
  return 2
}

/**
 * Runs the `sous` command line and resolves with the exit code: 0 on success, 1 when the
 * recipe, data or run fails (one clear message on stderr; the cause with `--verbose`), 2 for
 * a command line that cannot be understood.
 */
export const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  let args: ParsedArgs
  let program: Effect.Effect<void, CliError>
  try {
    args = parseArgs(argv)
    if (args.version) {
      process.stdout.write(`${packageVersion()}\n`)
      return 0
    }
    if (args.verb === undefined || (args.verb === "help" && args.positionals.length === 0 && !args.help)) {
      process.stdout.write(usage)
      return args.help || args.verb === "help" ? 0 : 2
    }
    if (args.help || args.verb === "help") {
      // `sous help run` and `sous run --help` alike; `sous help --help` is help's own.
      const words = args.verb === "help" && args.positionals.length > 0 ? args.positionals : [args.verb, ...args.positionals]
      const topic = helpTopic(words)
      if (topic === undefined) throw unknownCommand(words[0]!)
      process.stdout.write(helpFor(topic) ?? "")
      return 0
    }
    checkCommandLine(args)
  } catch (error) {
    return usageFailure(argv, error)
  }
  // Loaded here, not at the top: --version and --help answer without loading the training
  // stack, which takes seconds of CPU to import. A failure to load it is not a usage error.
  const { commandProgram } = await import("./commands.js")
  try {
    program = commandProgram(args.verb, args)
  } catch (error) {
    return usageFailure(argv, error)
  }
  const { pinoLoggerLayer } = await import("../adapters/logging/pino-logger.js")
  const logger = pinoLoggerLayer({ minimumLevel: args.verbose ? "Debug" : "Info" })
  const fiber = Effect.runFork(program.pipe(Effect.provide(logger)))
  // Ctrl-C interrupts the run instead of killing the process, so stages release their work
  // (a half-written checkpoint is removed; committed ones are never touched).
  const interrupt = () => Effect.runFork(Fiber.interrupt(fiber))
  process.once("SIGINT", interrupt)
  process.once("SIGTERM", interrupt)
  const exit = await Effect.runPromise(Fiber.await(fiber))
  process.off("SIGINT", interrupt)
  process.off("SIGTERM", interrupt)
  if (Exit.isSuccess(exit)) return 0
  // A server's (or worker's) normal end is Ctrl-C or SIGTERM: a clean stop, not a failure to a process manager.
  const isServer = args.verb === "serve" || args.verb === "worker" || (args.verb === "jobs" && args.positionals[0] === "serve")
  if (isServer && Cause.hasInterruptsOnly(exit.cause)) {
    process.stderr.write(`sous ${args.verb}${args.verb === "jobs" ? " serve" : ""}: stopped\n`)
    return 0
  }
  process.stderr.write(`sous: ${describeCause(exit.cause, args.verbose)}\n`)
  // 130 is what shells report for a command ended by Ctrl-C.
  return Cause.hasInterruptsOnly(exit.cause) ? 130 : 1
}
