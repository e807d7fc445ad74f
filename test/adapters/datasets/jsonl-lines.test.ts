import { assert, describe, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import { jsonlLines } from "../../../src/adapters/datasets/jsonl-lines.js"

/** Lines of `chunks` as `jsonlLines` splits them, or its error. */
const split = (chunks: ReadonlyArray<string | Uint8Array>, maxLineBytes: number) =>
  Stream.runCollect(jsonlLines("data.jsonl", Stream.fromIterable(chunks.map((chunk) => typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk)), maxLineBytes))

describe("jsonlLines", () => {
  it.effect("splits bytes into lines across chunks, CRLF or LF, a character split between chunks kept whole", () =>
    Effect.gen(function*() {
      const euro = new TextEncoder().encode("€") // three bytes
      const lines = yield* split(["ab", "c\r\nd", euro.slice(0, 1), euro.slice(1), "\n\nlast"], 100)
      assert.deepStrictEqual(lines, ["abc", "d€", "", "last"])
    }))

  it.effect("refuses a line longer than the limit with its file and line, before the line is held whole", () =>
    Effect.gen(function*() {
      const within = "x".repeat(16)
      assert.deepStrictEqual(yield* split([`${within}\n${within}\n`], 16), [within, within])
      // The second line never ends: its first bytes over the limit end the stream.
      const endless = Stream.concat(Stream.make(new TextEncoder().encode("{}\n")), Stream.forever(Stream.make(new Uint8Array(1024).fill(120))))
      const error = yield* Effect.flip(Stream.runCollect(jsonlLines("data.jsonl", endless, 64 * 1024)))
      assert.strictEqual(error._tag, "DatasetRowError")
      assert.strictEqual(error.line, 2)
      assert.strictEqual(error.message, "the line is longer than 64 KiB, the most a dataset line may hold")
    }))
})
