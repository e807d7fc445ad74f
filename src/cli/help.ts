/**
 * The commands of `sous`, in one table: what each takes and does. `sous --help`, each
 * `sous <command> --help` and the checks of a command line's options are all read from it,
 * so nothing about a command is written twice.
 */
import type { OptionName } from "./args.js"

/** An option as help shows it: the placeholder of its value (none for a flag) and what it does. */
interface OptionHelp {
  readonly value?: string
  readonly text: string
}

/** Every option's help; a command may say more about one in its own entry. */
const optionHelp: Readonly<Record<OptionName, OptionHelp>> = {
  out: { value: "<dir>", text: "the run directory" },
  set: { value: "path=value", text: "override a recipe field, e.g. --set optimizer.lr=3e-4 (repeatable)" },
  limit: { value: "N", text: "how many conversations to show (default 3)" },
  port: { value: "N", text: "the port to listen on (0: any free port)" },
  host: { value: "HOST", text: "the address to listen on (default 127.0.0.1)" },
  "state-dir": { value: "DIR", text: "where saved weights go (default ./sous-serve)" },
  device: { value: "auto|gpu|cpu|wasm", text: "the TensorFlow.js backend to train on (default auto)" },
  "api-key-env": { value: "NAME", text: "the environment variable that holds the API key (default SOUS_SERVE_API_KEY)" },
  keys: { value: "FILE", text: "a JSON file of API keys: {\"keys\": [{\"name\", \"key\" or \"sha256\", \"quota\"?}]}" },
  "base-models": { value: "FILE", text: "a JSON file of base model names: architectures, or Hugging Face directories {\"hf\": DIR}" },
  faults: { value: "SPEC", text: "inject failures for testing clients, e.g. 5xx=0.02,429=0.02,drop=0.02,latency=50,seed=1" },
  db: { value: "FILE|URL", text: "the runs database: a SQLite file (default ./sous-runs.db) or a postgres:// URL" },
  "runner-address": { value: "host:port", text: "where other workers reach this one (PostgreSQL; default 127.0.0.1 and a free port)" },
  concurrency: { value: "N", text: "how many runs train at once (default 1)" },
  home: { value: "DIR", text: "where uploaded files and jobs go (default ./sous-jobs)" },
  tenants: { value: "FILE", text: "a JSON file of tenants, their API keys and webhooks" },
  models: { value: "FILE", text: "a JSON catalog of base models (default sous's own)" },
  format: { value: "hf|peft", text: "hf: a merged Hugging Face model directory (default); peft: the LoRA adapter" },
  prompt: { value: "TEXT", text: "the text to complete" },
  "max-tokens": { value: "N", text: "the most tokens to sample (default 64)" },
  temperature: { value: "T", text: "0 picks the likeliest token each step (the default); above 0 samples, flatter as T grows" },
  seed: { value: "N", text: "the seed of sampling at a temperature above 0 (default 0)" },
  chat: { text: "render the prompt as a user turn in the model's chat format; stop where the assistant's turn ends" },
  json: { text: "print {prompt, completion, tokens: [{id, text, logprob}], stop_reason} as JSON" },
  "no-worker": { text: "train nothing in this process; run sous worker on the same --db" },
  watch: { text: "print the status again as it changes, until the run ends" },
  checkpoint: { text: "checkpoint the running segment before the run is cancelled" },
  overwrite: { text: "start again in a directory that holds a run (its run files are removed)" },
  resume: { text: "continue the run in --out if it holds one of the same recipe" },
  fallback: { text: "resume from an older checkpoint when the newest is damaged" },
  verbose: { text: "on failure, show the full cause instead of one line" },
  help: { text: "show this help" },
  version: { text: "print the version of sous" }
}

/** The options every command takes. */
export const globalOptions: ReadonlyArray<OptionName> = ["verbose", "help", "version"]

/** A command as help shows it and as its command line is checked. */
export interface CommandHelp {
  /** The words that name it: `run`, `jobs serve`. */
  readonly name: string
  /** What follows `sous <name>`: arguments and options. */
  readonly synopsis: string
  /** What it does, one paragraph (help wraps it). */
  readonly description: string
  /** The options it takes besides {@link globalOptions}, each with its own text where the common one would not do. */
  readonly options: ReadonlyArray<OptionName | readonly [OptionName, string]>
  /** Why it refuses an option one might expect it to take, said instead of where the option belongs. */
  readonly refuses?: Partial<Record<OptionName, string>>
  readonly example: string
}

/** Every command of `sous`, in the order `sous --help` lists them. */
export const commands: ReadonlyArray<CommandHelp> = [
  {
    name: "run",
    synopsis: "<recipe> --out <dir> [--set path=value ...] [--overwrite | --resume [--fallback]]",
    description: "Train: writes the resolved recipe, metrics.jsonl, events.jsonl, checkpoints/ and summary.json " +
      "into <dir>, and prints every eval and the final numbers. Refuses a directory that already holds a run " +
      "unless --overwrite (start again) or --resume (continue it; the recipe must be the same).",
    options: ["out", "set", "overwrite", "resume", "fallback"],
    example: "sous run examples/sft-arithmetic/recipe.yaml --out runs/sft-arithmetic --set training.steps=100"
  },
  {
    name: "resume",
    synopsis: "<dir> [--fallback]",
    description: "Continue the run in <dir> from its newest committed checkpoint, as if it had never stopped, " +
      "with the recipe it started with. --fallback resumes from an older checkpoint when the newest is damaged.",
    options: ["fallback"],
    // A resumed run must be the run that was started; a changed recipe would silently differ.
    refuses: { set: "a run resumes with the recipe it started with (its recipe.json)" },
    example: "sous resume runs/sft-arithmetic"
  },
  {
    name: "render",
    synopsis: "<recipe> [--limit N] [--set path=value ...]",
    description: "Show the first N (default 3) training conversations as the model will read them, with the " +
      "tokens that carry loss between [[ and ]].",
    options: ["limit", "set"],
    example: "sous render examples/sft-arithmetic/recipe.yaml --limit 1"
  },
  {
    name: "validate",
    synopsis: "<recipe> [--set path=value ...]",
    description: "Check a recipe and its data as sous run would before writing anything, and print the recipe " +
      "with every default filled in.",
    options: ["set"],
    example: "sous validate examples/sft-arithmetic/recipe.yaml --set optimizer.lr=1e-3"
  },
  {
    name: "plan",
    synopsis: "<recipe> [--set path=value ...]",
    description: "Print the compiled workflow tree with its step, eval and checkpoint schedule.",
    options: ["set"],
    example: "sous plan examples/pipeline-sft-rl/pipeline.yaml"
  },
  {
    name: "report",
    synopsis: "<run-dir>... [--out report.html]",
    description: "Write one self-contained HTML page (no network) with loss, learning rate, gradient norm and " +
      "every eval measure against steps, the resolved recipe, checkpoints and timing; several run directories " +
      "on one page for comparison.",
    options: [["out", "the HTML file to write (default report.html)"]],
    example: "sous report runs/sft-arithmetic runs/lora --out compare.html"
  },
  {
    name: "export",
    synopsis: "<run-dir|checkpoint-dir> --out <dir> [--format hf|peft]",
    description: "Write the final checkpoint of a model.hf run (or the checkpoint <checkpoint-dir> names, such as " +
      "<run-dir>/checkpoints/step-00000100) as a Hugging Face model directory, LoRA merged in, in the source " +
      "model's dtype, with its config and tokenizer files; or, with --format peft, a LoRA run's adapter as PEFT " +
      "loads it over the source model.",
    options: [["out", "the directory to write (new or empty)"], "format"],
    example: "sous export runs/lora --out exported --format peft"
  },
  {
    name: "sample",
    synopsis: "<model-dir|run-dir|checkpoint-dir> --prompt TEXT [--chat] [--max-tokens N] [--temperature T] [--seed N] [--json]",
    description: "Complete a prompt with a Hugging Face model directory (its tokenizer.json, and for --chat its " +
      "tokenizer_config.json, required), a run directory's newest checkpoint, or one checkpoint " +
      "(<run-dir>/checkpoints/<name>). Stops at the model's EOS or after --max-tokens; prints the completion.",
    options: ["prompt", "chat", "max-tokens", "temperature", "seed", "json"],
    example: "sous sample runs/sft-arithmetic --prompt \"12+7=\" --max-tokens 8 --json"
  },
  {
    name: "schema",
    synopsis: "[kind]",
    description: "Print the JSON Schema of a recipe kind (supervised, classify, preference, rl, distill, " +
      "pipeline; without a kind, any recipe file), for editors' YAML completion.",
    options: [],
    example: "sous schema supervised > recipe.schema.json"
  },
  {
    name: "serve",
    synopsis: "[--port 8000] [--host 127.0.0.1] [--state-dir DIR] [--device auto] " +
      "[--api-key-env SOUS_SERVE_API_KEY] [--keys FILE] [--base-models FILE] [--faults SPEC]",
    description: "Serve the local backend over the Tinker training protocol, so recipes with backend.kind tinker " +
      "(and the Tinker Python SDK) train on this machine. Clients send the key held in the variable --api-key-env " +
      "names, or one of the keys in --keys, each seeing only what it made. --base-models names the models " +
      "(architectures or Hugging Face directories) clients that send only a base model name (the Python SDK) get.",
    options: [["port", "the port to listen on (default 8000; 0: any free port)"], "host", "state-dir", "device", "api-key-env", "keys", "base-models", "faults"],
    example: "SOUS_SERVE_API_KEY=tml-secret sous serve --port 8000 --state-dir sous-serve"
  },
  {
    name: "submit",
    synopsis: "<recipe> [--set path=value ...] [--out <dir>] [--db FILE|URL]",
    description: "Queue a durable run of the recipe (checked first, as sous run checks it) and print its id; " +
      "a worker on the same database runs it.",
    options: [["out", "the run directory (default sous-runs/<id> beside the database file, or here for PostgreSQL)"], "set", "db"],
    example: "sous submit examples/sft-arithmetic/recipe.yaml --set training.steps=60"
  },
  {
    name: "worker",
    synopsis: "[--db FILE|URL] [--concurrency N] [--runner-address host:port]",
    description: "Run queued runs, N at a time, each as segments from checkpoint to checkpoint; a run a killed " +
      "worker left is taken over where its store says. One worker per SQLite file; on PostgreSQL any number, " +
      "each at its own --runner-address, N counting the running runs of all of them. Ctrl-C stops it; runs go " +
      "on when a worker next starts.",
    options: ["db", "concurrency", "runner-address"],
    example: "sous worker --concurrency 2"
  },
  {
    name: "runs",
    synopsis: "[--db FILE|URL]",
    description: "List durable runs: id, state, step, rate.",
    options: ["db"],
    example: "sous runs --db sous-runs.db"
  },
  {
    name: "status",
    synopsis: "<id> [--watch] [--db FILE|URL]",
    description: "State, segment, step, steps/s, ETA, last checkpoint and last error of a durable run.",
    options: ["watch", "db"],
    example: "sous status run-mabc12-0a1b2c --watch"
  },
  {
    name: "pause",
    synopsis: "<id> [--db FILE|URL]",
    description: "Pause a durable run: the running segment checkpoints after the step it is on and stops there; " +
      "nothing starts until sous resume <id>.",
    options: ["db"],
    example: "sous pause run-mabc12-0a1b2c"
  },
  {
    name: "resume",
    synopsis: "<id> [--db FILE|URL]",
    description: "Resume a paused durable run. sous resume takes a run id only when no file or directory has " +
      "that name; otherwise it continues a run directory.",
    options: ["db"],
    example: "sous resume run-mabc12-0a1b2c"
  },
  {
    name: "cancel",
    synopsis: "<id> [--checkpoint] [--db FILE|URL]",
    description: "Cancel a durable run: the running segment is stopped, its uncommitted files removed, committed " +
      "checkpoints kept.",
    options: ["checkpoint", "db"],
    example: "sous cancel run-mabc12-0a1b2c --checkpoint"
  },
  {
    name: "logs",
    synopsis: "<id> [--db FILE|URL]",
    description: "The durable run's own log: submission, segments, retries, pause, resume and its end.",
    options: ["db"],
    example: "sous logs run-mabc12-0a1b2c"
  },
  {
    name: "jobs serve",
    synopsis: "--tenants FILE [--db FILE|URL] [--home DIR] [--models FILE] [--port 8080] [--host 127.0.0.1] " +
      "[--no-worker | --concurrency N]",
    description: "The OpenAI fine-tuning API (/v1/files, /v1/fine_tuning/jobs, ...) over durable runs, with " +
      "signed webhooks and a live dashboard at /. A worker trains in the same process unless --no-worker.",
    options: ["tenants", "db", "home", "models", ["port", "the port to listen on (default 8080; 0: any free port)"], "host", "no-worker", "concurrency"],
    example: "sous jobs serve --tenants tenants.json --db jobs.db --port 8080"
  },
  {
    name: "jobs dead-letters",
    synopsis: "[--db FILE|URL]",
    description: "Webhook events given up on after their last retry.",
    options: ["db"],
    example: "sous jobs dead-letters --db jobs.db"
  },
  {
    name: "jobs replay",
    synopsis: "<event-id> [--db FILE|URL]",
    description: "Send a dead webhook event again, with the same webhook-id.",
    options: ["db"],
    example: "sous jobs replay evt_0123 --db jobs.db"
  },
  {
    name: "help",
    synopsis: "[command]",
    description: "Show a command's usage, options and an example; without one, this overview.",
    options: [],
    example: "sous help jobs serve"
  }
]

/** The first word of every command: what `sous <verb>` may be. */
export const verbNames: ReadonlyArray<string> = [...new Set(commands.map((command) => command.name.split(" ")[0]!))]

/**
 * The entries a help topic names: the command itself (`jobs serve`), or every command of a
 * verb (`jobs`, `resume`, which has two).
 */
export const commandsNamed = (topic: string): ReadonlyArray<CommandHelp> =>
  commands.filter((command) => command.name === topic || command.name.startsWith(`${topic} `))

/**
 * The command a command line's words name: the longest start of them that is a command or a
 * verb (`jobs serve x` is `jobs serve`, `run r.yaml` is `run`); undefined for none.
 */
export const helpTopic = (words: ReadonlyArray<string>): string | undefined => {
  for (let count = words.length; count > 0; count--) {
    const topic = words.slice(0, count).join(" ")
    if (commandsNamed(topic).length > 0) return topic
  }
  return undefined
}

/** Why `sous <topic>` refuses `option`, when its entry says. */
export const refusalOf = (topic: string, option: OptionName): string | undefined =>
  commandsNamed(topic).map((command) => command.refuses?.[option]).find((reason) => reason !== undefined)

const optionName = (option: CommandHelp["options"][number]): OptionName => (typeof option === "string" ? option : option[0])

/** The options `sous <topic>` takes, its commands' and the global ones. */
export const optionsOf = (topic: string): ReadonlySet<OptionName> =>
  new Set([...commandsNamed(topic).flatMap((command) => command.options.map(optionName)), ...globalOptions])

/** Every command (`sous x`) that takes `option`, for an error naming where an option belongs. */
export const commandsTaking = (option: OptionName): ReadonlyArray<string> =>
  [...new Set(commands.filter((command) => command.options.some((entry) => optionName(entry) === option)).map((command) => command.name))]

/**
 * `words` joined by spaces in lines of at most `width` characters (a longer word stands
 * alone): the first after `indent`, the others after `hanging`.
 */
const wrapWords = (words: ReadonlyArray<string>, indent: string, hanging = indent, width = 94): string => {
  const lines: Array<string> = []
  let line = indent
  for (const word of words) {
    const start = lines.length === 0 ? indent : hanging
    if (line !== start && line.length + 1 + word.length > width) {
      lines.push(line)
      line = `${hanging}${word}`
    } else {
      line = line === start ? `${line}${word}` : `${line} ${word}`
    }
  }
  return [...lines, line].join("\n")
}

const wrap = (text: string, indent: string): string => wrapWords(text.split(" "), indent)

/** A synopsis's words, each `[...]` one word, so a line never breaks inside an optional part. */
const synopsisWords = (synopsis: string): ReadonlyArray<string> => synopsis.match(/\[(?:[^[\]]|\[[^\]]*\])*\]|[^\s[]+/g) ?? []

const flagOf = (name: OptionName): string => (name === "help" ? "-h, --help" : name === "version" ? "-V, --version" : `--${name}`)

const optionLines = (options: ReadonlyArray<readonly [OptionName, string]>): string => {
  const left = options.map(([name]) => `${flagOf(name)}${optionHelp[name].value === undefined ? "" : ` ${optionHelp[name].value}`}`)
  const column = Math.max(...left.map((text) => text.length)) + 2
  return options.map(([, text], index) => `  ${left[index]!.padEnd(column)}${text}`).join("\n")
}

/** `sous <name> <synopsis>` after `indent`, continued lines under the synopsis's start. */
const synopsisLine = (command: CommandHelp, indent: string): string =>
  wrapWords(["sous", ...command.name.split(" "), ...synopsisWords(command.synopsis)], indent, " ".repeat(`${indent}sous ${command.name} `.length))

/** The help of one command: usage, what it does, every option it takes, and an example. */
const commandHelp = (command: CommandHelp): string => {
  const options = [...command.options, ...globalOptions].map((option): readonly [OptionName, string] =>
    typeof option === "string" ? [option, optionHelp[option].text] : option
  )
  return [
    synopsisLine(command, "Usage: "),
    "",
    wrap(command.description, ""),
    "",
    "Options:",
    optionLines(options),
    "",
    "Example:",
    `  ${command.example}`,
    ""
  ].join("\n")
}

/** What `sous <topic> --help` and `sous help <topic>` print; undefined for no such command. */
export const helpFor = (topic: string): string | undefined => {
  const named = commandsNamed(topic)
  return named.length === 0 ? undefined : named.map(commandHelp).join("\n")
}

/** The text of `sous --help`: every command, its synopsis and what it does. */
export const usage = [
  "sous: typed training recipes, compiled to workflows",
  "",
  "Usage:",
  ...commands.map((command) => `${synopsisLine(command, "  ")}\n${wrap(command.description, "      ")}`),
  "",
  "Common options:",
  optionLines([["set", optionHelp.set.text], ...globalOptions.map((name) => [name, optionHelp[name].text] as const)]),
  "",
  "sous <command> --help (or sous help <command>) shows a command's options and an example.",
  "Exit codes: 0 success, 1 bad input or failed run, 2 bad command line.",
  ""
].join("\n")
