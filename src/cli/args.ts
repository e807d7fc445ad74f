import { Schema } from "effect"

/** A parsed command line: the verb, its positional arguments and its flags. */
export interface ParsedArgs {
  readonly verb: string | undefined
  readonly positionals: ReadonlyArray<string>
  readonly out: string | undefined
  readonly sets: ReadonlyArray<string>
  /** `--limit N` (render): how many conversations to show. */
  readonly limit: string | undefined
  /** The options of `sous serve` (`--port`, `--host`, `--state-dir`, ...), by flag name without dashes. */
  readonly serve: Readonly<Record<string, string>>
  readonly verbose: boolean
  readonly overwrite: boolean
  readonly resume: boolean
  readonly fallback: boolean
  readonly help: boolean
}

/** A command line that cannot be understood; found before anything runs. */
export class UsageError extends Schema.TaggedError<UsageError>()("UsageError", {
  message: Schema.String
}) {}

const valueFlags = new Set(["--out", "--set", "--limit"])
/** Flags of `sous serve`; each takes a value. */
export const serveFlags = new Set(["--port", "--host", "--state-dir", "--device", "--api-key-env", "--faults", "--base-models"])
const booleanFlags = new Set(["--verbose", "--overwrite", "--resume", "--fallback", "--help", "-h"])

/** Parses `sous <verb> [positionals] [--out dir] [--set a.b=c ...] [--verbose] [--overwrite] [--resume] [--fallback]`. */
export const parseArgs = (argv: ReadonlyArray<string>): ParsedArgs => {
  const positionals: Array<string> = []
  const sets: Array<string> = []
  let out: string | undefined
  let limit: string | undefined
  const serve: Record<string, string> = {}
  const flags = new Set<string>()
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!
    const [name, inline] = arg.startsWith("--") && arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined]
    if (serveFlags.has(name)) {
      const value = inline ?? argv[++index]
      if (value === undefined) throw new UsageError({ message: `${name} needs a value` })
      serve[name.slice(2)] = value
    } else if (valueFlags.has(name)) {
      const value = inline ?? argv[++index]
      if (value === undefined) throw new UsageError({ message: `${name} needs a value` })
      if (name === "--out") out = value
      else if (name === "--limit") limit = value
      else sets.push(value)
    } else if (booleanFlags.has(name)) {
      flags.add(name === "-h" ? "--help" : name)
    } else if (arg.startsWith("-")) {
      throw new UsageError({ message: `unknown option ${arg}` })
    } else {
      positionals.push(arg)
    }
  }
  return {
    verb: positionals[0],
    positionals: positionals.slice(1),
    out,
    sets,
    limit,
    serve,
    verbose: flags.has("--verbose"),
    overwrite: flags.has("--overwrite"),
    resume: flags.has("--resume"),
    fallback: flags.has("--fallback"),
    help: flags.has("--help")
  }
}

/** The text of `sous --help`. */
export const usage = `sous: typed training recipes, compiled to workflows

Usage:
  sous run <recipe> --out <dir> [--set path=value ...] [--overwrite | --resume] [--verbose]
      Train: writes the resolved recipe, metrics.jsonl, events.jsonl, checkpoints/ and
      summary.json into <dir>. Refuses a directory that already holds a run unless
      --overwrite (start again) or --resume (continue it; the recipe must be the same).
  sous resume <dir> [--fallback] [--verbose]
      Continue the run in <dir> from its newest committed checkpoint, as if it had never
      stopped. --fallback resumes from an older checkpoint when the newest is damaged.
  sous render <recipe> [--limit N] [--set path=value ...]
      Show the first N (default 3) training conversations as the model will read them,
      with the tokens that carry loss between [[ and ]].
  sous validate <recipe> [--set path=value ...]
      Check a recipe and print it with every default filled in.
  sous plan <recipe> [--set path=value ...]
      Print the compiled workflow tree with its step, eval and checkpoint schedule.
  sous serve [--port 8000] [--host 127.0.0.1] [--state-dir DIR] [--device auto]
             [--api-key-env SOUS_SERVE_API_KEY] [--base-models FILE] [--faults SPEC]
      Serve the local backend over the Tinker training protocol, so recipes with
      backend.kind tinker (and the Tinker Python SDK) train on this machine. Clients must
      send the key held in the environment variable --api-key-env names. Saved weights go
      to --state-dir (default ./sous-serve). --base-models names architectures in a JSON
      file ({"name": {"kind": "transformer", ...}}) for clients that send only a base
      model name (the Python SDK). --faults injects failures for testing
      clients, e.g. 5xx=0.02,429=0.02,408=0.02,410=0.02,drop=0.02,latency=50,seed=1.

Options:
  --set path=value   override a recipe field, e.g. --set optimizer.lr=3e-4 (repeatable)
  --verbose          on failure, show the full cause instead of one line
  --fallback         (resume) skip damaged checkpoints, newest first
  -h, --help         show this help

Exit codes: 0 success, 1 bad input or failed run, 2 bad command line.
`
