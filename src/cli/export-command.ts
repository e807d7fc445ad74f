/**
 * `sous export <run-dir|checkpoint-dir> --out <dir> [--format hf|peft]`: a `model.hf` run's
 * checkpoint as a Hugging Face model directory or a PEFT adapter.
 */
import { Effect } from "effect"
import { type ExportFormat, exportRun } from "../kitchen/export-run.js"
import { type ParsedArgs, UsageError } from "./args.js"
import type { CliError } from "./cli-error.js"

const formats: ReadonlyArray<ExportFormat> = ["hf", "peft"]

/**
 * The `sous export` command: one positional (a run directory, whose `final` checkpoint is
 * exported, or a checkpoint directory), `--out` required, `--format` `hf` (default) or `peft`.
 * Throws a {@link UsageError} at once for a command line that lacks them. Prints the files
 * written.
 */
export const exportCommand = (args: ParsedArgs): Effect.Effect<void, CliError> => {
  if (args.positionals.length !== 1) throw new UsageError({ message: "sous export needs one run or checkpoint directory" })
  if (args.out === undefined) throw new UsageError({ message: "sous export needs --out <dir>" })
  const format = args.format ?? "hf"
  if (!formats.includes(format as ExportFormat)) {
    throw new UsageError({ message: `--format ${JSON.stringify(format)} is not one of ${formats.join(", ")}` })
  }
  const out = args.out
  return Effect.flatMap(exportRun({ source: args.positionals[0]!, out, format: format as ExportFormat }), (files) =>
    Effect.sync(() => process.stdout.write(`wrote ${out}: ${files.join(", ")}\n`)))
}
