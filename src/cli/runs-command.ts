/**
 * The durable-run commands: `sous submit`, `worker`, `runs`, `status`, `pause`, `resume`,
 * `cancel` and `logs`, over the library API of `durable/`. Everything but `worker` only reads
 * or writes rows, so it can run beside a worker on the same database. `--db` is a SQLite file
 * or a `postgres://` URL (see `runsDatabaseLayers`); only its printable form, without the
 * password, is ever written out.
 */
import { existsSync } from "node:fs"
import { Effect } from "effect"
import { fastTakeoverTimings, fastTakeoverVariable, parseRunnerAddress, printableDatabase } from "../durable/database.js"
import { cancelRun, isRunId, listRuns, pauseRun, resumeRun, runLog, type RunStatus, runStatus, submitRun } from "../durable/runs.js"
import { finalStates } from "../durable/run-store.js"
import { runWorker } from "../durable/worker.js"
import { type ParsedArgs, UsageError } from "./args.js"

/** The verbs this module runs. */
export const runVerbs = ["submit", "worker", "runs", "status", "pause", "resume", "cancel", "logs"] as const

/**
 * Whether the command line is one of {@link runVerbs}. `sous resume` is older than durable
 * runs and continues a run directory; it controls a durable run only when its argument has a
 * run id's shape and names no file or directory, so every `sous resume <dir>` works as before.
 */
export const isRunCommand = (args: ParsedArgs): boolean => {
  if (args.verb === undefined || !(runVerbs as ReadonlyArray<string>).includes(args.verb)) return false
  if (args.verb !== "resume") return true
  const target = args.positionals[0]
  return target !== undefined && isRunId(target) && !existsSync(target)
}

/** Where runs are kept unless `--db` says otherwise: beside where the command is typed. */
export const defaultRunsDatabase = "sous-runs.db"

const out = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

const seconds = (value: number) => value < 90 ? `${Math.round(value)}s` : value < 5_400 ? `${Math.round(value / 60)}m` : `${(value / 3_600).toFixed(1)}h`

/** One line per run for `sous runs`, more for `sous status`. */
const summaryLine = (run: RunStatus) => {
  const total = run.total_steps === null ? "" : `/${run.total_steps}`
  const rate = run.state === "running" && run.steps_per_second > 0 ? `  ${run.steps_per_second.toFixed(2)} steps/s` : ""
  return `${run.id}  ${run.state.padEnd(9)}  step ${run.step}${total}${rate}`
}

const statusText = (run: RunStatus) =>
  [
    summaryLine(run) + (run.etaSeconds === undefined ? "" : `  ETA ${seconds(run.etaSeconds)}`),
    `  segment ${run.segment}; last checkpoint ${run.last_checkpoint ?? "none"}` +
    (run.control === "none" ? "" : `; ${run.control} requested`),
    ...(run.last_error === null ? [] : [`  last error: ${run.last_error}`]),
    `  run directory ${run.run_dir}`
  ].join("\n")

/** The one positional argument (a recipe or a run id) a verb takes, or none. */
const argument = (args: ParsedArgs, what: string | undefined): string => {
  const [first, ...extra] = args.positionals
  if (what === undefined) {
    if (first !== undefined) throw new UsageError({ message: `sous ${args.verb} takes no arguments, got ${first}` })
    return ""
  }
  if (first === undefined) throw new UsageError({ message: `sous ${args.verb} needs a ${what}` })
  if (extra.length > 0) throw new UsageError({ message: `unexpected argument ${extra[0]}` })
  return first
}

/** Refuses options the verb has no use for, so a mistyped command line is not half obeyed. */
const refuse = (args: ParsedArgs, allowed: ReadonlyArray<"out" | "set" | "concurrency" | "runner-address" | "watch" | "checkpoint">) => {
  const given = [
    ...(args.out !== undefined ? ["out"] : []),
    ...(args.sets.length > 0 ? ["set"] : []),
    ...(args.concurrency !== undefined ? ["concurrency"] : []),
    ...(args.runnerAddress !== undefined ? ["runner-address"] : []),
    ...(args.watch ? ["watch"] : []),
    ...(args.checkpoint ? ["checkpoint"] : []),
    ...Object.keys(args.serve)
  ].filter((name) => !(allowed as ReadonlyArray<string>).includes(name))
  if (given.length > 0) throw new UsageError({ message: `--${given[0]} is not an option of sous ${args.verb}` })
}

const concurrencyOf = (text: string | undefined): number => {
  if (text === undefined) return 1
  if (!/^[1-9][0-9]*$/.test(text)) throw new UsageError({ message: `--concurrency must be a positive integer, got ${text}` })
  return Number(text)
}

const runnerAddressOf = (text: string | undefined) => {
  if (text === undefined) return undefined
  const address = parseRunnerAddress(text)
  if (address === undefined) throw new UsageError({ message: `--runner-address must be host:port, got ${text}` })
  return address
}

/** `sous status --watch`: prints the status when it changes, until the run ends. */
const watch = (runId: string, db: string) =>
  Effect.gen(function*() {
    let shown = ""
    while (true) {
      const run = yield* runStatus(runId, { db })
      const text = statusText(run)
      if (text !== shown) yield* out(text)
      shown = text
      if (finalStates.includes(run.state)) return
      yield* Effect.sleep("1 second")
    }
  })

/**
 * The program of a durable-run verb, after its command line is checked (a bad one throws a
 * {@link UsageError} before anything runs).
 */
export const runsCommand = (args: ParsedArgs) => {
  const db = args.db ?? defaultRunsDatabase
  switch (args.verb) {
    case "submit": {
      refuse(args, ["out", "set"])
      const recipe = argument(args, "recipe file")
      return Effect.flatMap(submitRun(recipe, { db, sets: args.sets, runDir: args.out }), out)
    }
    case "worker": {
      refuse(args, ["concurrency", "runner-address"])
      argument(args, undefined)
      const concurrency = concurrencyOf(args.concurrency)
      const runnerAddress = runnerAddressOf(args.runnerAddress)
      // Tests only (see fastTakeoverVariable): a killed worker's runs move in seconds.
      const shardingConfig = process.env[fastTakeoverVariable] === "1" ? fastTakeoverTimings : undefined
      return Effect.andThen(
        Effect.sync(() => process.stderr.write(`sous worker: running up to ${concurrency} run(s) from ${printableDatabase(db)}\n`)),
        runWorker({ db, concurrency, runnerAddress, shardingConfig, onStart: (id) => process.stderr.write(`sous worker: running ${id}\n`) })
      ).pipe(
        // The engine reads no configuration sous does not pass it: a ConfigError is a bug.
        Effect.catchTag("ConfigError", Effect.die),
        // The runner's address cannot be listened on (taken, or not this machine's).
        Effect.catchTag("SocketServerError", (error) =>
          Effect.fail(new UsageError({ message: `sous worker cannot listen on its runner address: ${error.message}`, cause: error })))
      )
    }
    case "runs": {
      refuse(args, [])
      argument(args, undefined)
      return Effect.flatMap(listRuns({ db }), (runs) => out(runs.length === 0 ? `no runs in ${printableDatabase(db)}` : runs.map(summaryLine).join("\n")))
    }
    case "status": {
      refuse(args, ["watch"])
      const id = argument(args, "run id")
      return args.watch ? watch(id, db) : Effect.flatMap(runStatus(id, { db }), (run) => out(statusText(run)))
    }
    case "logs": {
      refuse(args, [])
      const id = argument(args, "run id")
      return Effect.flatMap(runLog(id, { db }), (lines) =>
        out(lines.map((line) => `${new Date(line.at).toISOString()}  ${line.message}`).join("\n")))
    }
    default: {
      // pause, resume, cancel
      refuse(args, args.verb === "cancel" ? ["checkpoint"] : [])
      const id = argument(args, "run id")
      const control = args.verb === "pause" ? pauseRun : args.verb === "resume" ? resumeRun : cancelRun
      return Effect.andThen(control(id, { db, checkpoint: args.checkpoint }), out(`${args.verb} of ${id} requested`))
    }
  }
}
