import { parseArgs as parseCommandLine, type ParseArgsOptionsConfig } from "node:util"
import { Schema } from "effect"

/** A parsed command line: the verb, its positional arguments and its flags. */
export interface ParsedArgs {
  readonly verb: string | undefined
  readonly positionals: ReadonlyArray<string>
  readonly out: string | undefined
  readonly sets: ReadonlyArray<string>
  /** `--limit N` (render): how many conversations to show. */
  readonly limit: string | undefined
  /** `--db FILE|URL` (durable runs): the runs database, a SQLite file or a `postgres://` URL. */
  readonly db: string | undefined
  /** `--runner-address host:port` (worker, PostgreSQL): where other workers call this one. */
  readonly runnerAddress: string | undefined
  /** `--concurrency N` (worker): how many runs train at once. */
  readonly concurrency: string | undefined
  /** `--watch` (status): follow the run until it ends. */
  readonly watch: boolean
  /** `--checkpoint` (cancel): checkpoint the running segment before the run is cancelled. */
  readonly checkpoint: boolean
  /** The options of `sous serve` (`--port`, `--host`, `--state-dir`, ...), by flag name without dashes. */
  readonly serve: Readonly<Record<string, string>>
  /** The options of `sous jobs serve` besides `--port` and `--host` (`--home`, `--tenants`, `--models`). */
  readonly jobs: Readonly<Record<string, string>>
  /** `--no-worker` (jobs serve): leave training to `sous worker` processes. */
  readonly noWorker: boolean
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

// Every option of every command in one table, so `--x=v` and `--x v` read alike everywhere.
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
  keys: value,
  db: value,
  "runner-address": value,
  concurrency: value,
  home: value,
  tenants: value,
  models: value,
  "no-worker": flag,
  verbose: flag,
  watch: flag,
  checkpoint: flag,
  overwrite: flag,
  resume: flag,
  fallback: flag,
  help: { ...flag, short: "h" }
} as const satisfies ParseArgsOptionsConfig

type OptionName = keyof typeof options

/** The options of `sous serve`. */
const serveOptions = ["port", "host", "state-dir", "device", "api-key-env", "keys", "faults", "base-models"] as const satisfies ReadonlyArray<OptionName>

/** The options of `sous jobs serve` of its own. */
const jobsOptions = ["home", "tenants", "models"] as const satisfies ReadonlyArray<OptionName>

const isOption = (name: string): name is OptionName => Object.hasOwn(options, name)

/**
 * Parses `sous <verb> [positionals] [--out dir] [--set a.b=c ...] [--verbose] [--overwrite]
 * [--resume] [--fallback]` and the options of `sous serve`. `--x=v` and `--x v` are the same
 * (the value may start with `-`: `--limit -3` is a bad limit, not a missing one); `-h` is
 * `--help`. An unknown option (also `-` and `--`) or a missing value throws a
 * {@link UsageError}.
 *
 * Node's `util.parseArgs` splits the command line into tokens; it runs leniently because its
 * strict mode refuses what sous has always taken (a value that starts with `-`, `--verbose=1`)
 * and takes what sous has always refused (`-`, `--`). The rules below are sous's.
 */
export const parseArgs = (argv: ReadonlyArray<string>): ParsedArgs => {
  const { tokens } = parseCommandLine({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true })
  const positionals: Array<string> = []
  const sets: Array<string> = []
  const values: Partial<Record<OptionName, string>> = {}
  const flags = new Set<string>()
  // The whole argument, as typed: `-hv` or `--foo=bar`, not the one letter or name node split off.
  const unknown = (index: number) => new UsageError({ message: `unknown option ${argv[index]}` })
  for (const token of tokens) {
    if (token.kind === "option-terminator") throw unknown(token.index)
    if (token.kind === "positional") {
      if (token.value === "-") throw unknown(token.index)
      positionals.push(token.value)
    } else if (!isOption(token.name)) {
      throw unknown(token.index)
    } else if (options[token.name].type === "boolean") {
      flags.add(token.name)
    } else if (token.value === undefined) {
      throw new UsageError({ message: `${token.rawName} needs a value` })
    } else if (token.name === "set") {
      sets.push(token.value)
    } else {
      values[token.name] = token.value
    }
  }
  const given = (names: ReadonlyArray<OptionName>) =>
    Object.fromEntries(names.flatMap((name) => (values[name] === undefined ? [] : [[name, values[name]]])))
  return {
    verb: positionals[0],
    positionals: positionals.slice(1),
    out: values.out,
    sets,
    limit: values.limit,
    db: values.db,
    runnerAddress: values["runner-address"],
    concurrency: values.concurrency,
    watch: flags.has("watch"),
    checkpoint: flags.has("checkpoint"),
    serve: given(serveOptions),
    jobs: given(jobsOptions),
    noWorker: flags.has("no-worker"),
    verbose: flags.has("verbose"),
    overwrite: flags.has("overwrite"),
    resume: flags.has("resume"),
    fallback: flags.has("fallback"),
    help: flags.has("help")
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
             [--api-key-env SOUS_SERVE_API_KEY] [--keys FILE] [--base-models FILE] [--faults SPEC]
      Serve the local backend over the Tinker training protocol, so recipes with
      backend.kind tinker (and the Tinker Python SDK) train on this machine. Clients must
      send the key held in the environment variable --api-key-env names, or one of the
      keys in --keys FILE ({"keys": [{"name", "key" or "sha256", "quota"?}]}), each
      seeing only what it made. Saved weights go
      to --state-dir (default ./sous-serve). --base-models names architectures in a JSON
      file ({"name": {"kind": "transformer", ...}}) for clients that send only a base
      model name (the Python SDK). --faults injects failures for testing
      clients, e.g. 5xx=0.02,429=0.02,408=0.02,410=0.02,drop=0.02,latency=50,seed=1.
  sous submit <recipe> [--set path=value ...] [--out <dir>] [--db FILE|URL]
      Queue a durable run of the recipe (checked first, as sous run checks it) and print
      its id. A worker on the same database runs it. --out is its run directory (default
      sous-runs/<id> beside the database file, or in the current directory for
      PostgreSQL). --db is a SQLite file (default ./sous-runs.db) or a postgres:// URL.
  sous worker [--db FILE|URL] [--concurrency N] [--runner-address host:port]
      Run queued runs, N (default 1) at a time, each as segments from checkpoint to
      checkpoint; a run a killed worker left is taken over where its store says. One
      worker per SQLite file; on PostgreSQL any number, each at its own --runner-address
      (default 127.0.0.1 and a free port; others must reach it), N counting the running
      runs of all of them. Ctrl-C stops it; runs go on when a worker next starts.
  sous runs [--db FILE|URL]
      List runs: id, state, step, rate.
  sous status <id> [--watch] [--db FILE|URL]
      State, segment, step, steps/s, ETA, last checkpoint and last error of a run;
      --watch prints it again as it changes until the run ends.
  sous pause <id> | sous resume <id> | sous cancel <id> [--checkpoint]  [--db FILE|URL]
      Pause (the running segment checkpoints after the step it is on and stops there;
      nothing starts until resume), resume, or cancel a run: the running segment is
      stopped, its uncommitted files removed, committed checkpoints kept; with
      --checkpoint it first checkpoints after the step it is on. sous resume takes a run
      id only when no file or directory has that name; otherwise it continues a run
      directory.
  sous logs <id> [--db FILE|URL]
      The run's own log: submission, segments, retries, pause, resume and its end.
  sous jobs serve --tenants FILE [--db FILE|URL] [--home DIR] [--models FILE]
                  [--port 8080] [--host 127.0.0.1] [--no-worker | --concurrency N]
      The OpenAI fine-tuning API (/v1/files, /v1/fine_tuning/jobs, ...) over durable runs,
      with signed webhooks and a live dashboard at /. --tenants is a JSON file of tenants,
      their API keys and webhooks; files and jobs go under --home (default ./sous-jobs);
      --models is a JSON catalog of base models (default sous's own). A worker trains in
      the same process unless --no-worker (then run sous worker on the same --db).
  sous jobs dead-letters [--db FILE|URL]
      Webhook events given up on after their last retry.
  sous jobs replay <event-id> [--db FILE|URL]
      Send a dead webhook event again, with the same webhook-id.

Options:
  --set path=value   override a recipe field, e.g. --set optimizer.lr=3e-4 (repeatable)
  --verbose          on failure, show the full cause instead of one line
  --fallback         (resume) skip damaged checkpoints, newest first
  -h, --help         show this help

Exit codes: 0 success, 1 bad input or failed run, 2 bad command line.
`
