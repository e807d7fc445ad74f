import { type ChildProcess, spawn } from "node:child_process"
import { readdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { checkpointDone, readManifest, readMetrics } from "../support/run-directory.js"
import { suiteDirectory } from "../support/temp-directory.js"
import { compareRuns } from "./compare-runs.js"
import { root, runAndKill, runCli, runCliAsync } from "./run-cli.js"

// `sous serve` as a user starts it: a child process, its key in an environment variable,
// then `sous run` of an example recipe with `backend.kind: tinker` against it.
const key = "tml-serve-test-key-7b1d"
// Removed after every test of the file, once the server writing into it has stopped.
const work = suiteDirectory("serve")
const stateDir = join(work, "state")
const recipe = join(root, "examples/sft-arithmetic/recipe.yaml")
const short = ["--set", "training.steps=4", "--set", "optimizer.warmupSteps=1", "--set", "eval.every=0", "--set", "checkpoint.every=2"]

let server: ChildProcess
let url: string

/** Starts `sous serve` and resolves with the URL it prints once it listens. */
const startServe = (args: ReadonlyArray<string>): Promise<string> =>
  new Promise((resolve, reject) => {
    server = spawn(process.execPath, [join(root, "bin/sous"), "serve", ...args], {
      cwd: root,
      env: { ...process.env, SOUS_SERVE_API_KEY: key }
    })
    let stdout = ""
    server.stdout!.on("data", (chunk) => {
      stdout += String(chunk)
      const listening = /listening on (http:\/\/\S+?);/.exec(stdout)
      if (listening !== null) resolve(listening[1]!)
    })
    server.on("exit", (code) => reject(new Error(`sous serve exited with ${code} before listening: ${stdout}`)))
  })

const tinker = () => ["--set", `backend={kind: tinker, baseUrl: "${url}"}`]

describe("sous serve", () => {
  beforeAll(async () => {
    url = await startServe(["--port", "0", "--device", "wasm", "--state-dir", stateDir])
  })
  // Ctrl-C (or SIGTERM from a process manager) is a server's normal end: a clean stop.
  afterAll(async () => {
    const stopped = new Promise<number | null>((resolve) => server.once("exit", resolve))
    let stderr = ""
    server.stderr!.on("data", (chunk) => (stderr += String(chunk)))
    server.kill("SIGTERM")
    expect(await stopped).toBe(0)
    expect(stderr).toContain("sous serve: stopped")
  })

  it("trains a recipe whose backend is tinker, keeping the checkpoints as tinker:// paths it serves", async () => {
    const out = join(work, "run")
    const result = await runCliAsync(["run", recipe, "--out", out, ...short, ...tinker()], { TINKER_API_KEY: key })
    expect(result.stderr).not.toContain("sous:")
    expect(result.code).toBe(0)
    const metrics = readMetrics(out)
    expect(metrics.map((line) => line.step)).toEqual([1, 2, 3, 4])
    // Each step carries where its requests' time went.
    for (const line of metrics) {
      expect(line.remote_submit_ms).toBeGreaterThanOrEqual(0)
      expect(line.remote_compute_ms).toBeGreaterThan(0)
    }
    const manifest = readManifest(out, "final")
    expect(manifest.state).toEqual({ _tag: "Remote", path: expect.stringMatching(/^tinker:\/\/.+\/weights\/final$/) })
    // The weights live on the server, in its state directory.
    expect(readdirSync(stateDir).length).toBeGreaterThan(0)
  }, 300_000)

  // Killed after its step-2 checkpoint was committed, the run resumes from that checkpoint's
  // tinker:// path and ends exactly where the uninterrupted run above ended.
  it("resumes a killed tinker run from its checkpoint on the server, to the same numbers", async () => {
    const out = join(work, "killed")
    const args = ["run", recipe, "--out", out, ...short, ...tinker()]
    await runAndKill(args, checkpointDone(out, 2), { TINKER_API_KEY: key })
    const resumed = await runCliAsync(["resume", out], { TINKER_API_KEY: key })
    expect(resumed.stderr).not.toContain("sous:")
    expect(resumed.code).toBe(0)
    compareRuns(join(work, "run"), out, 0)
  }, 300_000)

  it("refuses a wrong key, naming the variable and never printing the key", async () => {
    const wrong = "tml-wrong-key-do-not-print-3c9e"
    const result = await runCliAsync(["run", recipe, "--out", join(work, "wrong-key"), ...short, ...tinker()], { TINKER_API_KEY: wrong })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("TINKER_API_KEY")
    expect(result.stderr).toContain("401")
    expect(result.stderr + result.stdout).not.toContain(wrong)
  }, 300_000)
})

describe("sous serve and the tinker backend refuse bad settings before starting", () => {
  it("sous run without the key names the variable to set, before writing the run directory", () => {
    const out = join(work, "no-key")
    const result = runCli(["run", recipe, "--out", out, ...short, "--set", "backend={kind: tinker, baseUrl: 'http://127.0.0.1:9', apiKeyEnv: SOUS_TEST_UNSET_KEY}"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("backend.apiKeyEnv")
    expect(result.stderr).toContain("set the environment variable SOUS_TEST_UNSET_KEY")
    expect(() => readdirSync(out)).toThrow()
  })

  it("sous validate refuses a base URL that is not http(s)", () => {
    const result = runCli(["validate", recipe, "--set", "backend={kind: tinker, baseUrl: 'ftp://example.com'}"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("backend.baseUrl")
  })

  it("sous validate refuses a base URL with credentials, as run would, without printing them", () => {
    const result = runCli(["validate", recipe, "--set", "backend={kind: tinker, baseUrl: 'http://user:hunter2@127.0.0.1:9'}"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("backend.baseUrl")
    expect(result.stderr).toContain("must not hold credentials")
    expect(result.stderr).not.toContain("hunter2")
  })

  it("sous serve without its key names the variable", () => {
    const result = runCli(["serve", "--port", "0", "--api-key-env", "SOUS_TEST_UNSET_KEY"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("SOUS_TEST_UNSET_KEY")
  })

  it("sous serve refuses a bad --faults or --port as a command-line error", () => {
    expect(runCli(["serve", "--faults", "5xx=2"]).stderr).toContain("--faults 5xx=2: faults.rate5xx must be in [0, 1], got 2")
    expect(runCli(["serve", "--faults", "5xx=2"]).code).toBe(2)
    expect(runCli(["serve", "--port", "http"]).code).toBe(2)
    expect(runCli(["run", recipe, "--port", "80"]).stderr).toContain("--port is not an option of sous run; it is an option of sous serve and jobs serve")
    const models = join(work, "models.json")
    writeFileSync(models, JSON.stringify({ tiny: { kind: "transformer", vocabSize: 256 } }))
    const badModels = runCli(["serve", "--base-models", models])
    expect(badModels.code).toBe(2)
    expect(badModels.stderr).toContain(`--base-models ${models}`)
    expect(badModels.stderr).toContain("contextLength")
  })
})

describe("sous serve with a keys file, stopped while it builds a model", () => {
  // Large enough that building it (one TensorFlow.js call) takes far longer than the bound
  // below (about 20 M parameters took 6 s here; this is about 113 M), small enough for the
  // default memory budget (1.8 GB with AdamW state).
  const big = { kind: "transformer", vocabSize: 256, contextLength: 64, width: 768, layers: 16, heads: 8 }

  it("ends its server within the stated 3 s of SIGTERM, even in the middle of the build", async () => {
    const keysFile = join(work, "keys.json")
    writeFileSync(keysFile, JSON.stringify({ keys: [{ name: "alice", key: "tml-alice-serve-key-1", quota: { maxModels: 1 } }] }))
    const child = spawn(process.execPath, [join(root, "bin/sous"), "serve", "--port", "0", "--device", "wasm", "--keys", keysFile], {
      cwd: root,
      env: { ...process.env, SOUS_SERVE_API_KEY: "" }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => (stdout += String(chunk)))
    child.stderr.on("data", (chunk) => (stderr += String(chunk)))
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve))
    while (!/listening on (http:\/\/\S+?);/.test(stdout)) await new Promise((resolve) => setTimeout(resolve, 50))
    const base = `${/listening on (http:\/\/\S+?);/.exec(stdout)![1]}/api/v1`
    expect(stdout).toContain("clients send the keys of --keys as X-API-Key")
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: "POST",
        headers: { "x-api-key": "tml-alice-serve-key-1", "content-type": "application/json" },
        body: JSON.stringify(body)
      })
    const session = await (await post("/create_session", { tags: [], sdk_version: "test" })).json() as { session_id: string }
    const created = await post("/create_model", {
      session_id: session.session_id,
      model_seq_id: 0,
      base_model: "big",
      user_metadata: { sous: { architecture: big, seed: 1 } }
    })
    expect(created.status).toBe(200)
    // The build has started (it blocks the server's thread for seconds); SIGTERM now.
    await new Promise((resolve) => setTimeout(resolve, 500))
    const signalled = Date.now()
    child.kill("SIGTERM")
    while (!stderr.includes("sous serve: stopped") && Date.now() - signalled < 30_000) await new Promise((resolve) => setTimeout(resolve, 20))
    const stoppedAfter = Date.now() - signalled
    expect(stderr).toContain("sous serve: stopped")
    // 3 s of grace, then the thread is ended; the margin is for a loaded machine, and still
    // well short of the build, which a server that waited for it would finish first.
    expect(stoppedAfter).toBeLessThan(10_000)
    expect(await exited).toBe(0)
  }, 120_000)

  it("refuses a keys file it cannot use, naming the field and never printing a key", () => {
    const keysFile = join(work, "bad-keys.json")
    writeFileSync(keysFile, JSON.stringify({ keys: [{ name: "bad name", key: "tml-do-not-print-41ab" }] }))
    const result = runCli(["serve", "--keys", keysFile])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain(`--keys ${keysFile}: keys[0].name`)
    expect(result.stderr).not.toContain("tml-do-not-print-41ab")
  })
})

