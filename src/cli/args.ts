import { parseArgs as parseCommandLine, type ParseArgsOptionsConfig } from "node:util"
import { Schema } from "effect"
import { closestName } from "../ports/closest-name.js"
import { commandsTaking, helpTopic, optionsOf, refusalOf, verbNames } from "./help.js"

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
  /** `--format hf|peft` (export): what checkpoint to write. */
  readonly format: string | undefined
  /** The values of `sous sample`'s options (`--prompt`, `--max-tokens`, `--temperature`, `--seed`), by flag name without dashes. */
  readonly sample: Readonly<Record<string, string>>
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
  /** `--version` (`-V`): print the version of sous and nothing else. */
  readonly version: boolean
  /** Every option given, by name without dashes, in the order given (once each). */
  readonly given: ReadonlyArray<OptionName>
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
  format: value,
  prompt: value,
  "max-tokens": value,
  temperature: value,
  seed: value,
  chat: flag,
  json: flag,
  "no-worker": flag,
  verbose: flag,
  watch: flag,
  checkpoint: flag,
  overwrite: flag,
  resume: flag,
  fallback: flag,
  help: { ...flag, short: "h" },
  version: { ...flag, short: "V" }
} as const satisfies ParseArgsOptionsConfig

/** The name of an option of some command, without dashes. */
export type OptionName = keyof typeof options

/** Every option's name. */
export const optionNames = Object.keys(options) as ReadonlyArray<OptionName>

/** The options of `sous serve`. */
const serveOptions = ["port", "host", "state-dir", "device", "api-key-env", "keys", "faults", "base-models"] as const satisfies ReadonlyArray<OptionName>

/** The options of `sous jobs serve` of its own. */
const jobsOptions = ["home", "tenants", "models"] as const satisfies ReadonlyArray<OptionName>

/** The options of `sous sample` that take a value. */
const sampleOptions = ["prompt", "max-tokens", "temperature", "seed"] as const satisfies ReadonlyArray<OptionName>

const isOption = (name: string): name is OptionName => Object.hasOwn(options, name)

/**
 * Parses `sous <verb> [positionals] [--out dir] [--set a.b=c ...] [--verbose] [--overwrite]
 * [--resume] [--fallback]` and the options of `sous serve`. `--x=v` and `--x v` are the same
 * (the value may start with `-`: `--limit -3` is a bad limit, not a missing one); `-h` is
 * `--help`, `-V` is `--version`. An unknown option (also `-` and `--`) or a missing value
 * throws a {@link UsageError}; an unknown option gets the nearest option of the verb, if one
 * is close (`--ovewrite`: did you mean --overwrite?). Which options a verb takes is checked
 * by {@link checkCommandLine}.
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
  const given = new Set<OptionName>()
  // The whole argument, as typed: `-hv` or `--foo=bar`, not the one letter or name node split off.
  const unknown = (index: number, name?: string) => {
    // The command's words may come after the unknown option.
    const topic = helpTopic(commandWords(argv))
    const candidates = topic === undefined ? optionNames : optionsOf(topic)
    const meant = name === undefined || name.length === 1 ? undefined : closestName(name, candidates)
    return new UsageError({ message: `unknown option ${argv[index]}${meant === undefined ? "" : `; did you mean --${meant}?`}` })
  }
  for (const token of tokens) {
    if (token.kind === "option-terminator") throw unknown(token.index)
    if (token.kind === "positional") {
      if (token.value === "-") throw unknown(token.index)
      positionals.push(token.value)
    } else if (!isOption(token.name)) {
      throw unknown(token.index, token.name)
    } else {
      given.add(token.name)
      if (options[token.name].type === "boolean") flags.add(token.name)
      else if (token.value === undefined) throw new UsageError({ message: `${token.rawName} needs a value` })
      else if (token.name === "set") sets.push(token.value)
      else values[token.name] = token.value
    }
  }
  const valuesOf = (names: ReadonlyArray<OptionName>) =>
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
    format: values.format,
    serve: valuesOf(serveOptions),
    jobs: valuesOf(jobsOptions),
    sample: valuesOf(sampleOptions),
    noWorker: flags.has("no-worker"),
    verbose: flags.has("verbose"),
    overwrite: flags.has("overwrite"),
    resume: flags.has("resume"),
    fallback: flags.has("fallback"),
    help: flags.has("help"),
    version: flags.has("version"),
    given: [...given]
  }
}

/**
 * The words of a command line that are not options or their values (`jobs serve`, `run
 * r.yaml`), read leniently: never throws, so a refused command line still shows whose help
 * to print.
 */
export const commandWords = (argv: ReadonlyArray<string>): ReadonlyArray<string> =>
  parseCommandLine({ args: [...argv], options, strict: false, allowPositionals: true }).positionals

const listed = (names: ReadonlyArray<string>): string =>
  names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`

/** The error for a verb that is no command of sous, naming the nearest one. */
export const unknownCommand = (verb: string): UsageError => {
  const meant = closestName(verb, verbNames)
  return new UsageError({ message: `unknown command '${verb}'${meant === undefined ? "" : `; did you mean '${meant}'?`}` })
}

/**
 * Refuses a command line whose verb is no command of sous, naming the nearest (`sous rnu`:
 * did you mean 'run'?), and one with an option its command does not take, naming the
 * commands that do take it. Runs after {@link parseArgs}, before the command reads its
 * arguments.
 */
export const checkCommandLine = (args: ParsedArgs): void => {
  const verb = args.verb ?? ""
  if (!verbNames.includes(verb)) throw unknownCommand(verb)
  const topic = helpTopic([verb, ...args.positionals]) ?? verb
  const taken = optionsOf(topic)
  const foreign = args.given.find((name) => !taken.has(name))
  if (foreign === undefined) return
  const reason = refusalOf(topic, foreign)
  throw new UsageError({
    message: reason === undefined
      ? `--${foreign} is not an option of sous ${topic}; it is an option of sous ${listed(commandsTaking(foreign))}`
      : `sous ${topic} takes no --${foreign}: ${reason}`
  })
}
