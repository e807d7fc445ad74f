import { parseArgs as parseCommandLine, type ParseArgsOptionsConfig } from "node:util"
import { Schema } from "effect"
import { messageOf } from "../ports/index.js"

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
  message: Schema.String,
  /** What the problem came from (node's parse error, a file that cannot be read), for a bug report. */
  cause: Schema.optional(Schema.Defect())
}) {}

const value = { type: "string" } as const
const flag = { type: "boolean" } as const

// Every option of every command in one table, so `--x=v` and `--x v` read alike everywhere;
// each command refuses the options it has no use for, by name.
const options = {
  out: value,
  set: { type: "string", multiple: true },
  limit: value,
  port: value,
  host: value,
  "state-dir": value,
  device: value,
  "api-key-env": value,
  faults: value,
  "base-models": value,
  verbose: flag,
  overwrite: flag,
  resume: flag,
  fallback: flag,
  help: { ...flag, short: "h" }
} as const satisfies ParseArgsOptionsConfig

/** The options of `sous serve`. */
const serveOptions = ["port", "host", "state-dir", "device", "api-key-env", "faults", "base-models"] as const satisfies ReadonlyArray<keyof typeof options>

/**
 * Why strict parsing refused `argv`, in sous's words: the first option that is unknown,
 * lacks its value or has one it cannot take. Read from node's own tokens of a lenient parse,
 * so the wording does not hang on node's messages; `fallback` is node's message, for a case
 * this does not foresee.
 */
const refusal = (argv: ReadonlyArray<string>, fallback: string): string => {
  const { tokens } = parseCommandLine({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true })
  for (const token of tokens) {
    if (token.kind !== "option") continue
    const known = Object.hasOwn(options, token.name) ? options[token.name as keyof typeof options] : undefined
    if (known === undefined) return `unknown option ${token.rawName}`
    if (known.type === "boolean" && token.value !== undefined) return `${token.rawName} takes no value`
    if (known.type === "string" && token.value === undefined) return `${token.rawName} needs a value`
    // Strict parsing reads `--out --verbose` as a forgotten value, not as a directory named `--verbose`.
    if (known.type === "string" && !token.inlineValue && token.value?.startsWith("-")) {
      return `${token.rawName} needs a value (write ${token.rawName}=${token.value} for one that starts with -)`
    }
  }
  return fallback
}

// Node's parse of `argv`, or a UsageError in sous's words.
const parseStrictly = (argv: ReadonlyArray<string>) => {
  try {
    return parseCommandLine({ args: [...argv], options, strict: true, allowPositionals: true })
  } catch (error) {
    throw new UsageError({ message: refusal(argv, messageOf(error)), cause: error })
  }
}

/**
 * Parses `sous <verb> [positionals] [--out dir] [--set a.b=c ...] [--verbose] [--overwrite]
 * [--resume] [--fallback]` and the options of `sous serve` with node's `util.parseArgs`,
 * strictly: an unknown option or a missing value throws a {@link UsageError}. `--x=v` and
 * `--x v` are the same; `-h` is `--help`; after `--` everything is positional.
 */
export const parseArgs = (argv: ReadonlyArray<string>): ParsedArgs => {
  const { positionals, values } = parseStrictly(argv)
  const serve: Record<string, string> = {}
  for (const name of serveOptions) {
    const given = values[name]
    if (given !== undefined) serve[name] = given
  }
  return {
    verb: positionals[0],
    positionals: positionals.slice(1),
    out: values.out,
    sets: values.set ?? [],
    limit: values.limit,
    serve,
    verbose: values.verbose === true,
    overwrite: values.overwrite === true,
    resume: values.resume === true,
    fallback: values.fallback === true,
    help: values.help === true
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
