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

  it("sous serve without its key names the variable", () => {
    const result = runCli(["serve", "--port", "0", "--api-key-env", "SOUS_TEST_UNSET_KEY"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("SOUS_TEST_UNSET_KEY")
  })

  it("sous serve refuses a bad --faults or --port as a command-line error", () => {
    expect(runCli(["serve", "--faults", "5xx=2"]).stderr).toContain("--faults 5xx=2: faults.rate5xx must be in [0, 1], got 2")
    expect(runCli(["serve", "--faults", "5xx=2"]).code).toBe(2)
    expect(runCli(["serve", "--port", "http"]).code).toBe(2)
    expect(runCli(["run", recipe, "--port", "80"]).stderr).toContain("--port is an option of sous serve")
    const models = join(work, "models.json")
    writeFileSync(models, JSON.stringify({ tiny: { kind: "transformer", vocabSize: 256 } }))
    const badModels = runCli(["serve", "--base-models", models])
    expect(badModels.code).toBe(2)
    expect(badModels.stderr).toContain(`--base-models ${models}`)
    expect(badModels.stderr).toContain("contextLength")
  })
})
