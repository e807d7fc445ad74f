import { join } from "node:path"
import { PassThrough } from "node:stream"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { keyNumbers, makeProgressSink } from "../../src/cli/progress-sink.js"
import { readSummary } from "../support/run-directory.js"
import { shortSftSets, sftRecipe } from "../support/short-sft.js"
import { testDirectory } from "../support/temp-directory.js"
import { runCli } from "./run-cli.js"

/** A stream that is not a terminal, as in CI logs, collecting what is written. */
const capture = (tty = false) => {
  const stream = new PassThrough()
  let text = ""
  stream.on("data", (chunk) => (text += String(chunk)))
  // A terminal 100 columns wide: what a part cannot be here, so it is made up.
  if (tty) Object.assign(stream, { isTTY: true, columns: 100 })
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => text }
}

/**
 * What a terminal shows after `text`: the lines of its screen, for the escapes a progress
 * bar writes (cursor to a column, up, clear line, clear to its end or the screen's).
 */
const screen = (text: string): ReadonlyArray<string> => {
  const lines: Array<string> = [""]
  let row = 0
  let column = 0
  const put = (char: string) => {
    const line = lines[row]!.padEnd(column)
    lines[row] = line.slice(0, column) + char + line.slice(column + 1)
    column++
  }
  for (const token of text.match(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]|[^\x1b]/g) ?? []) {
    const escape = /^\x1b\[([0-9;?]*)([A-Za-z])$/.exec(token)
    if (token === "\n") {
      row++
      column = 0
      lines[row] ??= ""
    } else if (token === "\r") {
      column = 0
    } else if (escape === null) {
      if (!token.startsWith("\x1b")) put(token)
    } else {
      const [, argument, command] = escape
      const count = Number(argument || "1")
      if (command === "G") column = count - 1
      else if (command === "A") row = Math.max(0, row - count)
      else if (command === "K") lines[row] = argument === "2" ? "" : lines[row]!.slice(0, column)
      else if (command === "J") lines.splice(row + 1)
    }
  }
  return lines.map((line) => line.trimEnd()).filter((line, index, all) => line !== "" || index < all.length - 1)
}

const summary = {
  steps: 4,
  final: { loss: 0.25, lr: 0.001, tokens: 12 },
  lastEval: { step: 4, metrics: { eval_nll: 1.2345678, eval_tokens: 700, eval_bpb: 2.5 } },
  bestEval: { step: 2, metrics: { eval_nll: 1.1, eval_tokens: 700, eval_bpb: 2.4 } }
}

const endLines = [
  "final step 4: loss 0.25",
  "last eval, step 4: nll 1.235, bpb 2.5",
  "best eval, step 2: nll 1.1, bpb 2.4"
]

describe("progress sink", () => {
  it.effect("prints plain lines every N steps, the last step, evals and the final numbers when not on a terminal", () =>
    Effect.gen(function*() {
      const out = capture()
      const sink = makeProgressSink({ stream: out.stream, every: 2 })
      yield* sink.event({ name: "schedule", step: 0, data: { totalSteps: 3 } })
      yield* sink.event({ name: "eval", step: 0, data: { eval_nll: 5.123456, eval_tokens: 700, eval_bpb: 2.5 } })
      yield* sink.event({ name: "eval", step: 0, data: { eval_preference_accuracy: 0.485, eval_margin: 0 } })
      for (const step of [1, 2, 3]) yield* sink.record(step, { loss: 1 / step, lr: 0.001 })
      yield* sink.summarize({ ...summary, steps: 3 })
      const lines = out.text().trim().split("\n")
      assert.deepStrictEqual(lines.map((line) => line.replace(/\| [\d.e+-]+ steps\/s$/, "| R steps/s")), [
        "training for 3 steps",
        "eval at step 0: nll 5.123, bpb 2.5",
        "eval at step 0: preference_accuracy 0.485, margin 0",
        "step 2/3 | loss 0.5 | lr 0.001 | R steps/s",
        "step 3/3 | loss 0.3333 | lr 0.001 | R steps/s",
        "final step 3: loss 0.25",
        ...endLines.slice(1)
      ])
    }))

  // Live: the bar redraws on a real timer.
  it.live("on a terminal, prints each eval on a line of its own above the bar, and the final numbers below it", () =>
    Effect.gen(function*() {
      const out = capture(true)
      const sink = makeProgressSink({ stream: out.stream, every: 2 })
      yield* sink.event({ name: "schedule", step: 0, data: { totalSteps: 4 } })
      yield* sink.event({ name: "eval", step: 0, data: { eval_nll: 5.5, eval_tokens: 700 } })
      for (const step of [1, 2]) yield* sink.record(step, { loss: 1 / step, lr: 0.001 })
      // The bar redraws on a timer: let it draw, so the next line must go above a drawn bar.
      yield* Effect.sleep("250 millis")
      yield* sink.event({ name: "eval", step: 2, data: { eval_nll: 1.1, eval_tokens: 700, eval_bpb: 2.4 } })
      yield* Effect.sleep("250 millis")
      for (const step of [3, 4]) yield* sink.record(step, { loss: 1 / step, lr: 0.001 })
      // As in a run: the finished bar is drawn before the last eval comes.
      yield* Effect.sleep("250 millis")
      yield* sink.event({ name: "eval", step: 4, data: summary.lastEval.metrics })
      yield* sink.summarize(summary)
      const shown = screen(out.text())
      assert.deepStrictEqual(shown.slice(0, 3), ["eval at step 0: nll 5.5", "eval at step 2: nll 1.1, bpb 2.4", "eval at step 4: nll 1.235, bpb 2.5"])
      assert.match(shown[3]!, /^train \[█{40}\] 4\/4 \| loss 0\.25 \| lr 0\.001 \| [\d.e+]+ steps\/s \| eta 0s$/)
      assert.deepStrictEqual(shown.slice(4), endLines)
      // The bar hid the cursor while it ran and shows it again.
      assert.isTrue(out.text().lastIndexOf("\x1b[?25h") > out.text().lastIndexOf("\x1b[?25l"))
    }))

  it.effect("close stops the bar of a run that ends without a summary, showing the cursor again", () =>
    Effect.gen(function*() {
      const out = capture(true)
      const sink = makeProgressSink({ stream: out.stream, every: 2 })
      yield* sink.event({ name: "schedule", step: 0, data: { totalSteps: 4 } })
      yield* sink.record(1, { loss: 1, lr: 0.001 })
      sink.close()
      assert.isTrue(out.text().includes("\x1b[?25l"))
      assert.isTrue(out.text().lastIndexOf("\x1b[?25h") > out.text().lastIndexOf("\x1b[?25l"))
      assert.match(screen(out.text()).at(-1)!, /^train \[█{10}░{30}\] 1\/4 \| loss 1 /)
    }))

  it("says how a run ended by its kind's measure, the best with its step, or the final loss without evals", () => {
    assert.strictEqual(keyNumbers(summary), "eval nll 1.235 (best 1.1 at step 2)")
    const evals = (metrics: Record<string, number>, best: Record<string, number>) => ({
      steps: 10,
      final: { loss: 1 },
      lastEval: { step: 10, metrics },
      bestEval: { step: 5, metrics: best }
    })
    // Classify reports nll too, but picks its best by accuracy.
    assert.strictEqual(keyNumbers(evals({ eval_accuracy: 0.9, eval_nll: 0.3, eval_examples: 9 }, { eval_accuracy: 0.95, eval_nll: 0.4 })), "eval accuracy 0.9 (best 0.95 at step 5)")
    assert.strictEqual(keyNumbers(evals({ eval_preference_accuracy: 0.9, eval_margin: 2 }, { eval_preference_accuracy: 0.945 })), "eval preference_accuracy 0.9 (best 0.945 at step 5)")
    assert.strictEqual(keyNumbers(evals({ eval_reward: 0.5, eval_exact_match: 0.4, eval_episodes: 64 }, { eval_reward: 0.75 })), "eval reward 0.5 (best 0.75 at step 5)")
    assert.strictEqual(keyNumbers(evals({ eval_teacher_nll: 2, eval_reverse_kl: 0.2 }, { eval_reverse_kl: 0.1 })), "eval reverse_kl 0.2 (best 0.1 at step 5)")
    assert.strictEqual(keyNumbers({ steps: 3, final: { loss: 1.23456, reward: 0.5 } }), "final loss 1.235, reward 0.5")
    assert.strictEqual(keyNumbers({ steps: 3, final: {} }), undefined)
    assert.strictEqual(keyNumbers(null), undefined)
    assert.strictEqual(keyNumbers({ lastEval: "not an eval", final: { loss: "x" } }), undefined)
  })

  it("ends a real run (not a terminal) with every eval, the final numbers and a done line that carries the key measure", () => {
    const out = join(testDirectory("progress"), "run")
    const result = runCli(["run", sftRecipe, "--out", out, ...shortSftSets(4, 2).flatMap((set) => ["--set", set])])
    assert.strictEqual(result.code, 0, result.stderr)
    const written = readSummary(out)
    const nll = (value: number) => Number(value.toPrecision(4))
    const evals = result.stderr.split("\n").filter((line) => line.startsWith("eval at step"))
    assert.deepStrictEqual(evals.map((line) => line.replace(/: .*/, "")), ["eval at step 0", "eval at step 4"])
    assert.include(result.stderr, `\nfinal step 4: loss ${nll(written.final.loss)}\n`)
    assert.include(result.stderr, `\nbest eval, step ${written.bestEval.step}: nll ${nll(written.bestEval.metrics.eval_nll)}`)
    assert.strictEqual(
      result.stdout.split("\n").find((line) => line.startsWith("done:")),
      `done: 4 steps, eval nll ${nll(written.lastEval.metrics.eval_nll)} (best ${nll(written.bestEval.metrics.eval_nll)} at step ${written.bestEval.step}); ` +
        `metrics, checkpoints and summary.json in ${out}`
    )
  })
})
