import { readFileSync } from "node:fs"
import { join } from "node:path"
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { Effect, Exit, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { hubServer, type HubServer } from "../support/hub-server.js"
import { readCheckpointState, readSummary } from "../support/run-directory.js"
import { type S3TestServer, startS3Server } from "../support/s3-server.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"
import { root, runAndKill, runCli, runCliAsync } from "./run-cli.js"

// The small model of the resume tests: 24 steps, a checkpoint every 4.
const settings = [
  "--set", "training.steps=24", "--set", "checkpoint.every=4", "--set", "eval.every=12",
  "--set", "model.width=32", "--set", "model.layers=1", "--set", "backend.device=wasm"
]
const recipe = join(root, "examples/sft-arithmetic/recipe.yaml")
const dataDir = join(root, "examples/sft-arithmetic/data")
const newRunDir = () => join(testDirectory("remote"), "run")
// The reference run, made before the tests.
const referenceDir = join(suiteDirectory("remote"), "reference")

let s3: S3TestServer
let client: S3Client
let hub: HubServer
const scope = Effect.runSync(Scope.make())
let reference: Buffer

const s3Env = () => ({
  AWS_ENDPOINT_URL_S3: s3.endpoint,
  AWS_REGION: s3.region,
  AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey
})

const s3Bytes = async (bucket: string, key: string): Promise<Buffer> => {
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return Buffer.from(await object.Body!.transformToByteArray())
}

beforeAll(async () => {
  s3 = await startS3Server()
  client = new S3Client({ endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials, forcePathStyle: true })
  hub = await Effect.runPromise(Scope.provide(hubServer(), scope))
  expect(runCli(["run", recipe, "--out", referenceDir, ...settings]).code).toBe(0)
  reference = readCheckpointState(referenceDir)
})

afterAll(async () => {
  client.destroy()
  await s3.stop()
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

describe("runs on remote stores", () => {
  it("reads data from S3, checkpoints to S3, survives SIGKILL and resumes to the same weights", async () => {
    const bucket = await s3.createBucket()
    for (const name of ["train.jsonl", "eval.jsonl"]) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: `data/${name}`, Body: readFileSync(join(dataDir, name)) }))
    }
    const runDir = newRunDir()
    const args = [
      "run", recipe, "--out", runDir, ...settings,
      "--set", `data.train=s3://${bucket}/data/train.jsonl`, "--set", `data.eval=s3://${bucket}/data/eval.jsonl`,
      "--set", `checkpoint.uri=s3://${bucket}/runs/a`
    ]
    // Kill once the checkpoint of step 12 is committed in S3.
    await runAndKill(args, () => s3Bytes(bucket, "runs/a/step-00000012/manifest.json").then(() => true, () => false), s3Env())
    const resumed = await runCliAsync(["resume", runDir], s3Env())
    expect(resumed.stderr).not.toContain("sous:")
    expect(resumed.code).toBe(0)
    const manifest = JSON.parse((await s3Bytes(bucket, "runs/a/final/manifest.json")).toString("utf8"))
    expect((await s3Bytes(bucket, `runs/a/${manifest.state.key}`)).equals(reference)).toBe(true)
    const index = JSON.parse((await s3Bytes(bucket, "runs/a/index.json")).toString("utf8"))
    expect(index.checkpoints.map((c: { name: string }) => c.name)).toEqual([
      "step-00000004", "step-00000008", "step-00000012", "step-00000016", "step-00000020", "final"
    ])
  })

  it("checkpoints to the Hub and publishes the model in one commit", async () => {
    const runDir = newRunDir()
    const result = await runCliAsync([
      "run", recipe, "--out", runDir, ...settings,
      "--set", "checkpoint.uri=hf://alice/ckpts", "--set", "checkpoint.keepLast=2", "--set", "publish.repo=hf://alice/adder"
    ], { HF_ENDPOINT: hub.url, HF_TOKEN: hub.token })
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)
    expect(result.stderr + result.stdout).not.toContain(hub.token)

    // Creating the repository makes the Hub's own first commit; the publish is one more.
    const published = hub.commits("alice/adder")
    expect(published.map((c) => c.title)).toEqual(["initial commit", "sous: publish sft-arithmetic after 24 steps"])
    expect([...published[1]!.paths].sort()).toEqual(["README.md", "recipe.json", "tokenizer.json", "weights.bin"])
    const summary = readSummary(runDir)
    const card = await (await fetch(`${hub.url}/alice/adder/resolve/main/README.md`)).text()
    expect(card).toContain("## Evaluation")
    expect(card).toContain(`| eval_nll | ${Number(summary.lastEval.metrics.eval_nll.toPrecision(6))} |`)

    // Each checkpoint is one commit holding its state blob and, last, its manifest.
    const checkpointCommits = hub.commits("alice/ckpts").filter((c) => c.title.startsWith("sous: checkpoint "))
    expect(checkpointCommits.map((c) => c.title)).toEqual(
      [4, 8, 12, 16, 20].map((step) => `sous: checkpoint step-${String(step).padStart(8, "0")}`).concat("sous: checkpoint final")
    )
    for (const commit of checkpointCommits) {
      expect(commit.paths).toHaveLength(2)
      expect(commit.paths[1]).toMatch(/\/manifest\.json$/)
    }
    // Retention kept the last two checkpoints (final among them).
    const index = JSON.parse(await (await fetch(`${hub.url}/alice/ckpts/resolve/main/index.json`, {
      headers: { authorization: `Bearer ${hub.token}` }
    })).text())
    expect(index.checkpoints.map((c: { name: string }) => c.name)).toEqual(["step-00000020", "final"])
  })
})
