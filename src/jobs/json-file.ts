import { readFile } from "node:fs/promises"
import { Effect } from "effect"
import { messageOf } from "../ports/thrown-message.js"

/** The JSON value in the file at `path`; a file that cannot be read or parsed fails with `fail(message)`. */
export const readJsonFile = <E>(path: string, fail: (message: string) => E): Effect.Effect<unknown, E> =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (error) => fail(`cannot read ${path}: ${messageOf(error)}`) })
    return yield* Effect.try({ try: (): unknown => JSON.parse(text), catch: (error) => fail(`${path} is not valid JSON: ${messageOf(error)}`) })
  })
