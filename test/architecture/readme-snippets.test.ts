import { readFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { consumerProject, typecheck, typecheckTimeout } from "../fixtures/consumer/consumer-project.js"
import { testDirectory } from "../support/temp-directory.js"

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..")

/** The documents whose TypeScript blocks must type-check against the built package. */
const documents = ["README.md", "examples/README.md"]

/** A code block: the document it is in, the line its code starts on, and its code. */
interface Snippet {
  readonly document: string
  readonly firstLine: number
  readonly text: string
}

/** Every ```ts and ```typescript block of `document`, with the line its code starts on. */
const snippetsOf = (document: string): Array<Snippet> => {
  const lines = readFileSync(resolve(repo, document), "utf8").split("\n")
  const snippets: Array<Snippet> = []
  let start: number | undefined
  for (const [index, line] of lines.entries()) {
    if (start === undefined && /^```(ts|typescript)\s*$/.test(line)) start = index + 1
    else if (start !== undefined && /^```\s*$/.test(line)) {
      snippets.push({ document, firstLine: start + 1, text: lines.slice(start, index).join("\n") })
      start = undefined
    }
  }
  return snippets
}

/** The module a snippet is written to: its document and line in the name, so errors map back. */
const fileOf = (snippet: Snippet) => `snippets/${snippet.document.replace(/[/.]/g, "-")}-${snippet.firstLine}.ts`

/**
 * tsc's errors with each snippet file's line turned back into its document's line:
 * `README.md:620:5 TS2345: ...`. Errors outside the snippets (none expected) are kept as they are.
 */
const mapErrors = (output: string, snippets: ReadonlyArray<Snippet>) =>
  output.split("\n").filter((line) => line.trim() !== "").map((line) => {
    const match = /^(snippets\/[^(]+)\((\d+),(\d+)\): error (.*)$/.exec(line)
    const snippet = match === null ? undefined : snippets.find((candidate) => fileOf(candidate) === match[1])
    return match === null || snippet === undefined ? line : `${snippet.document}:${snippet.firstLine + Number(match[2]) - 1}:${match[3]} ${match[4]}`
  })

describe("README snippets", () => {
  // One tsc run over every snippet, each a module of a consumer project that imports the built
  // package (npm run build first), so the README shows code a user can paste and compile.
  it("type-check against the built package", () => {
    const snippets = documents.flatMap(snippetsOf)
    expect(snippets.length).toBeGreaterThan(5)
    // The README shows a recipe written in code and run.
    const inCode = snippets.some((snippet) => snippet.text.includes("supervisedRecipe(") && snippet.text.includes("runRecipe("))
    expect(inCode, "no ts block builds a recipe with supervisedRecipe( and runs it with runRecipe(").toBe(true)
    const dir = testDirectory("readme-snippets")
    // `export {}` makes a snippet without imports a module too, so snippets share no names.
    consumerProject(dir, Object.fromEntries(snippets.map((snippet) => [fileOf(snippet), `${snippet.text}\nexport {}\n`])))
    const { output, status } = typecheck(dir)
    expect(mapErrors(output, snippets)).toEqual([])
    expect(status).toBe(0)
  }, typecheckTimeout + 10_000)
})
