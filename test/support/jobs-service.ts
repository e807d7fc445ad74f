import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { makeTenants, type TenantConfig } from "../../src/jobs/tenants.js"
import { type JobsServerOptions, startJobsServer } from "../../src/jobs/serve-jobs.js"
import { root } from "../cli/run-cli.js"

// The job service as the tests start it: in this process, on a SQLite file in a fresh
// directory, with two tenants (`acme` and `globex`) and, unless told otherwise, its own worker.

/** A tenant's API key, fresh for each server. */
const newKey = () => `sk-test-${randomBytes(12).toString("hex")}`

/** A started server, its directory and its tenants' keys. */
export interface TestJobsServer {
  readonly url: string
  readonly home: string
  readonly db: string
  /** The API keys, by tenant id. */
  readonly keys: Readonly<Record<string, string>>
  readonly close: () => Promise<void>
}

/**
 * Starts the job service in `home` (a test or suite directory); the caller closes it.
 * `webhook` gives tenant `acme` a webhook; the rest are server options.
 */
export const startTestJobsServer = async (
  home: string,
  options: Partial<Omit<JobsServerOptions, "tenants" | "db" | "home">> & {
    readonly webhook?: TenantConfig["webhook"]
    readonly db?: string
  } = {}
): Promise<TestJobsServer> => {
  const db = options.db ?? join(home, "runs.db")
  const keys = { acme: newKey(), globex: newKey() }
  const tenants = await Effect.runPromise(makeTenants({
    tenants: [
      { id: "acme", keys: [keys.acme], ...(options.webhook === undefined ? {} : { webhook: options.webhook }) },
      { id: "globex", keys: [keys.globex] }
    ]
  }))
  const scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(Scope.provide(startJobsServer({ port: 0, ...options, db, home, tenants }), scope))
  return { url: server.url, home, db, keys, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** The first `rows` conversations of the sft-arithmetic example, as a JSONL upload. */
export const arithmeticRows = (rows: number): string =>
  readFileSync(join(root, "examples/sft-arithmetic/data/train.jsonl"), "utf8").split("\n").slice(0, rows).join("\n") + "\n"

/**
 * The body of a short supervised job on the micro model: 45 rows (5 held out) in batches of
 * 8 make 5 steps an epoch, each ending with a checkpoint; `epochs` epochs in all.
 */
export const shortJobBody = (trainingFile: string, epochs: number) => ({
  model: "sous/micro-transformer",
  training_file: trainingFile,
  method: { type: "supervised", supervised: { hyperparameters: { n_epochs: epochs, batch_size: 8 } } },
  suffix: "test"
})

/** Rows of {@link shortJobBody}'s training file. */
export const shortJobRows = 45
