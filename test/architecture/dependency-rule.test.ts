import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

// The dependency rule of DESIGN.md, checked on every import of every source file:
// ports import nothing of ours; stages import ports; workflows import stages and ports;
// recipes import workflows, stages and ports; only kitchen/, cli/ and server/ import adapters.
const src = resolve(dirname(fileURLToPath(import.meta.url)), "../../src")

const allowed: Record<string, ReadonlyArray<string>> = {
  ports: ["ports"],
  stages: ["stages", "ports"],
  workflows: ["workflows", "stages", "ports"],
  recipes: ["recipes", "workflows", "stages", "ports"]
}

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

/** Top-level folder (or file) of `src` that a path lies in. */
const layerOf = (path: string) => relative(src, path).split(/[\\/]/)[0]!

const importsOf = (file: string, text: string) =>
  [...text.matchAll(/(?:import|export)[^"';]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^import\s+["']([^"']+)["']/gm)]
    .map((match) => match[1] ?? match[2] ?? match[3]!)
    .filter((specifier) => specifier.startsWith("."))
    .map((specifier) => resolve(dirname(file), specifier))

const violations = (sources: ReadonlyArray<{ readonly file: string; readonly text: string }>) =>
  sources.flatMap(({ file, text }) => {
    const from = layerOf(file)
    return importsOf(file, text)
      .map(layerOf)
      .filter((to) => {
        if (to === "adapters") return !["kitchen", "cli", "server", "adapters"].includes(from)
        const permitted = allowed[from]
        return permitted !== undefined && !permitted.includes(to)
      })
      .map((to) => `${relative(src, file)} imports ${to}/`)
  })

describe("the dependency rule", () => {
  it("holds for every source file", () => {
    const files = sourceFiles(src)
    expect(files.length).toBeGreaterThan(20)
    expect(violations(files.map((file) => ({ file, text: readFileSync(file, "utf8") })))).toEqual([])
  })

  it("reports imports that break it", () => {
    // The checker must be able to fail: feed it files that break the rule.
    expect(
      violations([
        { file: join(src, "stages", "bad.ts"), text: 'import { x } from "../adapters/local/local-backend.js"' },
        { file: join(src, "ports", "bad.ts"), text: 'export { y } from "../stages/index.js"' },
        { file: join(src, "workflows", "bad.ts"), text: 'const z = await import("../recipes/load-recipe.js")' },
        { file: join(src, "recipes", "bad.ts"), text: 'import "../adapters/local/tf-runtime.js"' },
        { file: join(src, "index.ts"), text: 'export * from "./adapters/index.js"' },
        { file: join(src, "run-pipeline.ts"), text: 'import { x } from "./adapters/local/local-backend.js"' },
        { file: join(src, "kitchen", "layers.ts"), text: 'import { x } from "../adapters/local/local-backend.js"' }
      ])
    ).toEqual([
      "stages/bad.ts imports adapters/",
      "ports/bad.ts imports stages/",
      "workflows/bad.ts imports recipes/",
      "recipes/bad.ts imports adapters/",
      "index.ts imports adapters/",
      "run-pipeline.ts imports adapters/"
    ])
  })
})
