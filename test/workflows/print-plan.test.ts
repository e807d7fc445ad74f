import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import { defineStage } from "../../src/stages/run/stage.js"
import { stateKey } from "../../src/stages/run/state-key.js"
import { finally_, loop, printPlan, sequence, stage, when, workflow } from "../../src/workflows/index.js"

const config = stateKey<string>("config")
const epochs = stateKey<number>("epochs")
const batch = stateKey<string>("batch")
const weights = stateKey<string>("weights")

const define = (name: string, description: string, reads: Array<typeof batch>, writes: Array<typeof batch>, advancesStep = false) =>
  defineStage({ name, description, reads, writes, advancesStep, run: () => Effect.void })

describe("printPlan", () => {
  it("renders every node with its details, indented by depth", () => {
    const optim = define("optim", "Apply one optimizer step", [batch], [weights], true)
    const wf = workflow({
      name: "sft",
      initial: [config, epochs],
      root: sequence(
        "main",
        stage(define("load", "Load the dataset", [config], [batch])),
        loop({
          name: "epoch",
          times: { key: epochs, label: "recipe epochs" },
          body: sequence(
            stage(optim, { retry: { schedule: Schedule.recurs(3) }, timeout: "30 seconds" }),
            when({ label: "every 50 steps", test: ({ step }) => step % 50 === 0, body: stage(define("checkpoint", "Save a checkpoint", [weights], [])) })
          )
        }),
        loop({ name: "cooldown", times: 2, body: stage(optim) }),
        finally_(stage(define("sample", "Sample from the model", [weights], [])), stage(define("close", "Close the session", [], [])))
      )
    })
    assert.strictEqual(
      printPlan(wf),
      [
        "workflow sft",
        "  initial: config, epochs",
        "  sequence main",
        "    stage load — Load the dataset [config → batch]",
        "    loop epoch × recipe epochs (from epochs)",
        "      sequence",
        "        stage optim — Apply one optimizer step [batch → weights] (advances step, retry, timeout 30s)",
        "        when every 50 steps",
        "          stage checkpoint — Save a checkpoint [weights → -]",
        "    loop cooldown × 2",
        "      stage optim — Apply one optimizer step [batch → weights] (advances step)",
        "    try",
        "      stage sample — Sample from the model [weights → -]",
        "    finally",
        "      stage close — Close the session [- → -]"
      ].join("\n")
    )
  })

  it("says when nothing is initial", () => {
    const wf = workflow({ name: "tiny", root: stage(define("only", "Do one thing", [], [batch])) })
    assert.strictEqual(printPlan(wf), "workflow tiny\n  initial: -\n  stage only — Do one thing [- → batch]")
  })
})
