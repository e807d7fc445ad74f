/** Which program a checked command line runs: the dispatch from a verb to its command. */
import type { Effect } from "effect"
import { type ParsedArgs, UsageError } from "./args.js"
import type { CliError } from "./cli-error.js"
import { exportCommand } from "./export-command.js"
import { isJobsCommand, jobsCommand } from "./jobs-command.js"
import { recipeCommand } from "./recipe-commands.js"
import { reportCommand } from "./report-command.js"
import { sampleCommand } from "./sample-command.js"
import { isRunCommand, runsCommand } from "./runs-command.js"
import { schemaCommand } from "./schema-command.js"
import { serve, serveSettings } from "./serve-command.js"

/**
 * The program of a command line that `checkCommandLine` passed. Throws a `UsageError` for
 * what only the command itself can refuse (a missing recipe file, say), before anything runs.
 */
export const commandProgram = (verb: string, args: ParsedArgs): Effect.Effect<void, CliError> => {
  if (verb === "serve") return serve(serveSettings(args))
  if (isRunCommand(args)) return runsCommand(args)
  if (isJobsCommand(args)) return jobsCommand(args)
  if (verb === "report") return reportCommand(args)
  if (verb === "export") return exportCommand(args)
  if (verb === "sample") return sampleCommand(args)
  if (verb === "schema") return schemaCommand(args)
  const program = recipeCommand(verb, args)
  if (program === undefined) throw new UsageError({ message: `unknown command '${verb}'` })
  return program
}
