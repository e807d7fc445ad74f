import * as fs from "node:fs/promises"
import * as os from "node:os"
import * as path from "node:path"
import { Effect, type Scope } from "effect"

/** A fresh directory under the OS temp dir, removed with everything in it when the scope closes. */
export const tempDirectory = (label: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => fs.mkdtemp(path.join(os.tmpdir(), `sous-${label}-`))),
    (directory) => Effect.promise(() => fs.rm(directory, { recursive: true, force: true }))
  )
