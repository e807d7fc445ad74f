/**
 * `sous jobs`: the job service. `serve` runs the OpenAI fine-tuning API over durable runs
 * (with a worker in the same process unless `--no-worker`); `dead-letters` and `replay` let
 * an operator read the webhook events given up on and send one again. API keys come from the
 * tenants file, never the command line, where other users of the machine could read them.
 */
import { resolve } from "node:path"
import { Effect } from "effect"
import { printableDatabase, runsDatabaseLayers } from "../durable/database.js"
import { startJobsServer } from "../jobs/serve-jobs.js"
import { loadModelCatalog } from "../jobs/model-catalog.js"
import { loadTenants } from "../jobs/tenants.js"
import { listDeadLetters, replayDeadLetter } from "../jobs/webhooks/index.js"
import { type ParsedArgs, UsageError } from "./args.js"
import { defaultRunsDatabase } from "./runs-command.js"

const out = (text: string) => Effect.sync(() => process.stdout.write(`${text}\n`))

/** The sub-commands of `sous jobs`. */
const jobVerbs = ["serve", "dead-letters", "replay"] as const

const port = (text: string | undefined): number => {
  const value = Number(text ?? "8080")
  if (text !== undefined && (!/^[0-9]+$/.test(text) || value > 65535)) {
    throw new UsageError({ message: `--port must be an integer in [0, 65535], got ${text}` })
  }
  return value
}

const concurrency = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined
  if (!/^[1-9][0-9]*$/.test(text)) throw new UsageError({ message: `--concurrency must be a positive integer, got ${text}` })
  return Number(text)
}

const serve = (args: ParsedArgs, db: string) => {
  const tenantsFile = args.jobs["tenants"]
  if (tenantsFile === undefined) {
    throw new UsageError({ message: "sous jobs serve needs --tenants FILE: the tenants and their API keys (see the README)" })
  }
  const settings = {
    home: resolve(args.jobs["home"] ?? "sous-jobs"),
    host: args.serve["host"] ?? "127.0.0.1",
    port: port(args.serve["port"]),
    concurrency: concurrency(args.concurrency)
  }
  if (args.noWorker && settings.concurrency !== undefined) throw new UsageError({ message: "--concurrency is for the worker; --no-worker runs none" })
  return Effect.gen(function*() {
    const tenants = yield* loadTenants(tenantsFile)
    const catalog = args.jobs["models"] === undefined ? undefined : yield* loadModelCatalog(args.jobs["models"])
    const server = yield* startJobsServer({
      db,
      home: settings.home,
      tenants,
      catalog,
      host: settings.host,
      port: settings.port,
      worker: args.noWorker ? false : { concurrency: settings.concurrency }
    })
    const worker = args.noWorker ? "no worker here (run sous worker on the database)" : "training in this process"
    yield* out(`sous jobs: listening on ${server.url} (API under /v1, dashboard at /); runs in ${printableDatabase(db)}, files and jobs in ${settings.home}; ${worker}`)
    return yield* Effect.never
  }).pipe(Effect.scoped)
}

const withDatabase = <A, E, R>(db: string, effect: Effect.Effect<A, E, R>) => Effect.provide(effect, runsDatabaseLayers(db).sql)

const deadLetters = (db: string) =>
  withDatabase(
    db,
    Effect.gen(function*() {
      const events = yield* listDeadLetters()
      if (events.length === 0) return yield* out("no dead webhook events")
      for (const event of events) {
        yield* out(`${event.id}  ${event.tenant}  ${event.type}  ${event.subject}  ${event.attempts} tries  ${event.last_error ?? ""}`)
      }
    })
  )

const replay = (db: string, id: string) =>
  withDatabase(db, Effect.andThen(replayDeadLetter(id), out(`${id}: queued again; it goes out with the same webhook-id`)))

/** Whether the command line is `sous jobs ...`. */
export const isJobsCommand = (args: ParsedArgs): boolean => args.verb === "jobs"

/** The program of a `sous jobs` command line (usage errors are thrown, before anything runs). */
export const jobsCommand = (args: ParsedArgs) => {
  const [sub, ...rest] = args.positionals
  if (sub === undefined || !(jobVerbs as ReadonlyArray<string>).includes(sub)) {
    throw new UsageError({ message: `sous jobs needs one of ${jobVerbs.join(", ")}${sub === undefined ? "" : `, got ${sub}`}` })
  }
  const db = args.db ?? defaultRunsDatabase
  if (sub === "replay") {
    if (rest.length !== 1) throw new UsageError({ message: "sous jobs replay needs one webhook event id (see sous jobs dead-letters)" })
    return replay(db, rest[0]!)
  }
  if (rest.length > 0) throw new UsageError({ message: `sous jobs ${sub} takes no arguments, got ${rest[0]}` })
  return sub === "serve" ? serve(args, db) : deadLetters(db)
}
