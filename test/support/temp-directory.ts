import { randomBytes } from "node:crypto"
import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"
import { afterAll, beforeAll, onTestFinished } from "vitest"

// Every directory a test makes lies under the OS temp dir, named `sous-<label>-…`, and is
// removed after the test (or the suite) that made it. Processes writing into one must be
// stopped first; `maxRetries` covers files a just-ended process still let go of.
const remove = (directory: string) => rmSync(directory, { recursive: true, force: true, maxRetries: 3 })

/** A fresh directory under the OS temp dir, removed with everything in it when the scope closes. */
export const tempDirectory = (label: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), `sous-${label}-`))),
    (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
  )

/**
 * {@link tempDirectory} for a test outside Effect: a fresh directory, removed with everything
 * in it when the test finishes, passed or failed. Call it within the test.
 */
export const testDirectory = (label: string): string => {
  const directory = mkdtempSync(path.join(os.tmpdir(), `sous-${label}-`))
  onTestFinished(() => remove(directory))
  return directory
}

/**
 * A directory the tests of a file (or of a `describe`) share. Its path is known at once, for
 * the file's constants; the directory is made before the suite's first test and removed, with
 * everything in it, after its last, so a suite that runs no test leaves nothing behind. Call
 * it at the top of the file or the `describe`, not within a test or hook; what goes into it
 * goes in from a hook or a test.
 */
export const suiteDirectory = (label: string): string => {
  const directory = path.join(os.tmpdir(), `sous-${label}-${randomBytes(4).toString("hex")}`)
  beforeAll(() => {
    mkdirSync(directory)
  })
  afterAll(() => remove(directory))
  return directory
}
