/**
 * `sous report <run-dir>... [--out report.html]`: writes one HTML file that shows the runs
 * (a pipeline's directory shows each stage as a run) and needs no network to open.
 */
import { Effect } from "effect"
import { type ParsedArgs, UsageError } from "./args.js"
import type { CliError } from "./cli-error.js"
import { writeReport } from "./report/index.js"

/** Where the report goes unless `--out` says otherwise. */
export const defaultReportFile = "report.html"

/**
 * The `sous report` command: the run directories are the positional arguments, the file is
 * `--out` (default `report.html`). Prints where it wrote and how many runs. Throws a
 * {@link UsageError} at once for a command line without a directory, as the other commands
 * do, before anything is read (`checkCommandLine` refuses other commands' options).
 */
export const reportCommand = (args: ParsedArgs): Effect.Effect<void, CliError> => {
  if (args.positionals.length === 0) throw new UsageError({ message: "sous report needs a run directory" })
  const out = args.out ?? defaultReportFile
  return Effect.flatMap(writeReport(args.positionals, out), (model) =>
    Effect.sync(() => {
      const runs = model.runs.length
      process.stdout.write(`wrote ${out}: ${runs} run${runs === 1 ? "" : "s"} (${model.runs.map((run) => run.name).join(", ")})\n`)
    }))
}
