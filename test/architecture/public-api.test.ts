import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import * as root from "../../src/index.js"
import * as stages from "../../src/stages/index.js"

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

/** The value names (not `type X`) a text imports from `module`. */
const importedValues = (text: string, module: string) =>
  [...text.matchAll(new RegExp(`import \\{([^}]*)\\} from "${module}"`, "g"))]
    .flatMap((match) => match[1]!.split(","))
    .map((name) => name.trim())
    .filter((name) => name !== "" && !name.startsWith("type "))

describe("the public API", () => {
  it("has every name the README imports from the package root", () => {
    const names = importedValues(readFileSync(resolve(repo, "README.md"), "utf8"), "sous")
    expect(names.length).toBeGreaterThan(10)
    expect(names.filter((name) => !(name in root))).toEqual([])
  })

  it("keeps the internals of stages out of the root", () => {
    // Helpers only the built-in workflows use stay in `sous/stages`; a few pinned here must
    // not leak back into the root through an `export *`.
    for (const internal of ["tokenizeTurns", "encodeManifest", "committedNames", "decodeDurableRunState", "fixRunLength"]) {
      expect(internal in stages).toBe(true)
      expect(internal in root).toBe(false)
    }
  })
})
