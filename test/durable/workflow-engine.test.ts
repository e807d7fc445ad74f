import { type ChildProcess, spawn } from "node:child_process"
import { existsSync, readFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { sqliteWorkflowEngineLayer } from "../../src/durable/sqlite-workflow-engine.js"
import { testDirectory } from "../support/temp-directory.js"
import { logFile, TwoStep, twoStepLayer } from "./fixtures/two-step-workflow.js"

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures")

/** How many times an activity started, across every process that ran the workflow. */
const runs = (markerDir: string, activity: "first" | "second"): number => {
  const file = logFile(markerDir, activity)
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter((line) => line !== "").length : 0
}

const engineOn = (filename: string) =>
  twoStepLayer({ hangInSecond: false }).pipe(Layer.provideMerge(sqliteWorkflowEngineLayer({ filename })))

/** Node 24 running the fixture's TypeScript source directly. */
const runFixture = (args: ReadonlyArray<string>): ChildProcess =>
  spawn(process.execPath, ["--import", "./resolve-ts.ts", "run-two-step.ts", ...args], {
    cwd: fixtures,
    stdio: ["ignore", "pipe", "pipe"]
  })

const exited = (child: ChildProcess): Promise<number | null> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.once("exit", (code) => resolve(code))
  })

const output = (child: ChildProcess) => {
  let text = ""
  child.stdout!.on("data", (chunk) => (text += String(chunk)))
  child.stderr!.on("data", (chunk) => (text += String(chunk)))
  return () => text
}

const waitFor = async (condition: () => boolean, timeoutMs: number, what: string) => {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

describe("durable workflows on SQLite (ClusterWorkflowEngine on SingleRunner)", () => {
  it.live("journals a finished run: the same key returns the stored result without running an activity", () => {
    const markerDir = testDirectory("workflow-engine")
    const filename = path.join(markerDir, "journal.db")
    const payload = { id: "run-1", markerDir }
    return Effect.gen(function*() {
      const result = yield* Effect.gen(function*() {
        const first = yield* TwoStep.execute(payload)
        const again = yield* TwoStep.execute(payload)
        return [first, again]
      }).pipe(Effect.provide(engineOn(filename)))
      assert.deepStrictEqual(result, ["second(first(run-1))", "second(first(run-1))"])
      assert.deepStrictEqual([runs(markerDir, "first"), runs(markerDir, "second")], [1, 1])

      // A new engine on the same file answers from the journal; another key runs anew.
      const [reopened, other] = yield* Effect.gen(function*() {
        return [yield* TwoStep.execute(payload), yield* TwoStep.execute({ id: "run-2", markerDir })]
      }).pipe(Effect.provide(engineOn(filename)))
      assert.strictEqual(reopened, "second(first(run-1))")
      assert.strictEqual(other, "second(first(run-2))")
      assert.deepStrictEqual([runs(markerDir, "first"), runs(markerDir, "second")], [2, 2])
    })
  }, 30_000)

  it("resumes a run after its process is killed inside the second activity, without running the first again", async () => {
    const markerDir = testDirectory("workflow-engine")
    const filename = path.join(markerDir, "journal.db")

    const doomed = runFixture([filename, markerDir, "start"])
    const doomedOutput = output(doomed)
    try {
      await waitFor(() => runs(markerDir, "second") === 1, 15_000, "the second activity to start")
    } catch (error) {
      doomed.kill("SIGKILL")
      throw new Error(`${String(error)}; the process wrote:\n${doomedOutput()}`)
    }
    doomed.kill("SIGKILL")
    await exited(doomed)
    assert.strictEqual(doomed.signalCode, "SIGKILL")
    assert.deepStrictEqual([runs(markerDir, "first"), runs(markerDir, "second")], [1, 1])

    const restartedAt = Date.now()
    const resumed = runFixture([filename, markerDir, "resume"])
    const resumedOutput = output(resumed)
    const timer = setTimeout(() => resumed.kill("SIGKILL"), 20_000)
    const code = await exited(resumed)
    clearTimeout(timer)
    assert.strictEqual(code, 0, resumedOutput())
    const report = JSON.parse(resumedOutput().trim().split("\n").at(-1)!)
    assert.strictEqual(report.value, "second(first(crash-run))")
    assert.deepStrictEqual([runs(markerDir, "first"), runs(markerDir, "second")], [1, 2])

    const secondResumedAt = Number(readFileSync(logFile(markerDir, "second"), "utf8").trim().split("\n")[1]!.split(" ")[2])
    console.log(
      `resume after restart: engine ready ${report.engineReadyAt - restartedAt} ms, ` +
        `second activity restarted ${secondResumedAt - restartedAt} ms, ` +
        `workflow complete ${report.completedAt - restartedAt} ms after the new process was spawned`
    )
  }, 60_000)
})
