import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { stateKey } from "../../src/stages/run/state-key.js"
import {
  finally_,
  loop,
  runWorkflow,
  sequence,
  stage,
  validateWorkflow,
  when,
  workflow,
  WorkflowInvalidError
} from "../../src/workflows/index.js"
import { recordingSink, traceStage } from "./kit.js"

const config = stateKey<string>("config")
const batch = stateKey<string>("batch")
const weights = stateKey<string>("weights")
const tokenizer = stateKey<string>("tokenizer")
const epochs = stateKey<number>("epochs")

const reader = (log: Array<string>, name: string, ...reads: Array<typeof batch>) => stage(traceStage(log, name, { reads }))
const writer = (log: Array<string>, name: string, ...writes: Array<typeof batch>) => stage(traceStage(log, name, { writes }))

describe("validateWorkflow", () => {
  it("accepts keys written earlier or listed as initial", () => {
    const wf = workflow({
      name: "fine",
      initial: [config],
      root: sequence(writer([], "load", batch), reader([], "train", batch, config))
    })
    assert.deepStrictEqual(validateWorkflow(wf), [])
  })

  it("reports every read of an unwritten key with the stage, key and path", () => {
    const wf = workflow({
      name: "broken",
      initial: [config],
      root: sequence("main", reader([], "train", batch, config), reader([], "save", weights, tokenizer))
    })
    assert.deepStrictEqual(validateWorkflow(wf), [
      {
        kind: "unwritten-key",
        node: "train",
        key: "batch",
        path: [0],
        message: `stage "train" reads "batch", which nothing before it writes (at workflow "broken" > sequence "main" > stage "train", path [0])`
      },
      {
        kind: "unwritten-key",
        node: "save",
        key: "weights",
        path: [1],
        message: `stage "save" reads "weights", which nothing before it writes (at workflow "broken" > sequence "main" > stage "save", path [1])`
      },
      {
        kind: "unwritten-key",
        node: "save",
        key: "tokenizer",
        path: [1],
        message: `stage "save" reads "tokenizer", which nothing before it writes (at workflow "broken" > sequence "main" > stage "save", path [1])`
      }
    ])
  })

  it("does not count writes inside a `when` after it, but does inside its body", () => {
    const wf = workflow({
      name: "gated",
      root: sequence(
        when({ label: "sometimes", test: () => true, body: sequence(writer([], "make", batch), reader([], "use", batch)) }),
        reader([], "later", batch)
      )
    })
    const problems = validateWorkflow(wf)
    assert.deepStrictEqual(problems.map((problem) => [problem.node, problem.key, problem.path]), [["later", "batch", [1]]])
  })

  it("checks a loop body once, as its first iteration, and counts its writes after the loop", () => {
    const wf = workflow({
      name: "looped",
      root: sequence(
        loop({ name: "epoch", times: 2, body: sequence(reader([], "use", weights), writer([], "make", weights)) }),
        reader([], "after", weights)
      )
    })
    const problems = validateWorkflow(wf)
    assert.deepStrictEqual(problems.map((problem) => [problem.node, problem.path]), [["use", [0, 0, 0]]])
    assert.include(problems[0]!.message, `loop "epoch" > iteration 0 > sequence > stage "use"`)
  })

  it("does not count the writes of a loop that runs zero times", () => {
    const wf = workflow({
      name: "empty-loop",
      root: sequence(loop({ name: "never", times: 0, body: writer([], "make", weights) }), reader([], "after", weights))
    })
    assert.deepStrictEqual(validateWorkflow(wf).map((problem) => problem.node), ["after"])
  })

  it("checks the key a loop reads its count from", () => {
    const wf = workflow({ name: "count", root: loop({ name: "epoch", times: { key: epochs, label: "epochs" }, body: writer([], "x", batch) }) })
    const problems = validateWorkflow(wf)
    assert.deepStrictEqual(problems.map((problem) => [problem.kind, problem.node, problem.key]), [["unwritten-key", "epoch", "epochs"]])
  })

  it("rejects duplicate loop names and bad fixed counts", () => {
    const wf = workflow({
      name: "loops",
      root: sequence(
        loop({ name: "epoch", times: 1, body: writer([], "a", batch) }),
        loop({ name: "epoch", times: 1.5, body: writer([], "b", batch) })
      )
    })
    const problems = validateWorkflow(wf)
    assert.deepStrictEqual(problems.map((problem) => [problem.kind, problem.path]), [
      ["duplicate-loop-name", [1]],
      ["invalid-loop-times", [1]]
    ])
  })

  it("lets a finalizer rely only on what was written before the body", () => {
    const wf = workflow({
      name: "finally",
      root: sequence(
        finally_(writer([], "make", weights), reader([], "cleanup", weights)),
        reader([], "after", weights)
      )
    })
    const problems = validateWorkflow(wf)
    assert.deepStrictEqual(problems.map((problem) => [problem.node, problem.path]), [["cleanup", [0, 1]]])
    assert.include(problems[0]!.message, "finally > finalizer > stage")
  })
})

describe("runWorkflow validation", () => {
  it.effect("refuses an invalid workflow with every problem before any stage runs", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const wf = workflow({
        name: "broken",
        root: sequence(writer(log, "load", config), reader(log, "train", batch), reader(log, "save", weights))
      })
      const error = yield* runWorkflow(wf).pipe(Effect.provide(recordingSink().layer), Effect.flip)
      assert.instanceOf(error, WorkflowInvalidError)
      const invalid = error as WorkflowInvalidError
      assert.deepStrictEqual(invalid.problems.map((problem) => [problem.node, problem.key]), [["train", "batch"], ["save", "weights"]])
      assert.include(invalid.message, `workflow "broken" is invalid:`)
      assert.include(invalid.message, `stage "save" reads "weights"`)
      assert.deepStrictEqual(log, [])
    }))

  it.effect("refuses a run that lacks a value for an initial key", () =>
    Effect.gen(function*() {
      const log: Array<string> = []
      const wf = workflow({ name: "needs-config", initial: [config], root: reader(log, "train", config) })
      const error = yield* runWorkflow(wf, { initialState: {} }).pipe(Effect.provide(recordingSink().layer), Effect.flip)
      assert.instanceOf(error, WorkflowInvalidError)
      assert.deepStrictEqual(
        (error as WorkflowInvalidError).problems.map((problem) => [problem.kind, problem.key]),
        [["missing-initial-value", "config"]]
      )
      assert.deepStrictEqual(log, [])
    }))
})
