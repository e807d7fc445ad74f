import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

// The dependency rule of DESIGN.md, checked on every import of every source file. Each layer
// (a top-level folder of src, or the root index.ts) names what it may import; a layer that is
// not listed fails the test, so a new folder cannot slip past the rule.
const src = resolve(dirname(fileURLToPath(import.meta.url)), "../../src")

const inner = ["ports", "stages", "workflows", "recipes"]
const allowed: Record<string, ReadonlyArray<string>> = {
  ports: ["ports"],
  protocol: ["protocol", "ports"],
  stages: ["stages", "ports"],
  workflows: ["workflows", "stages", "ports"],
  recipes: ["recipes", "workflows", "stages", "ports"],
  adapters: ["adapters", "ports", "protocol"],
  // The composition root and the programs built on it: the only code that imports adapters.
  kitchen: ["kitchen", "adapters", "protocol", ...inner],
  server: ["server", "adapters", "protocol", "ports"],
  // The durable engine runs recipes as jobs: it composes like the kitchen and uses it.
  durable: ["durable", "kitchen", "adapters", "protocol", ...inner],
  // The job service maps an HTTP API onto durable runs, with server's HTTP pieces.
  jobs: ["jobs", "durable", "kitchen", "server", "adapters", "protocol", ...inner],
  cli: ["cli", "jobs", "durable", "kitchen", "server", "adapters", "protocol", ...inner],
  // The public API loads no adapter (no TensorFlow.js) and no composition root.
  "index.ts": inner
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
    const permitted = allowed[from]
    if (permitted === undefined) return [`${relative(src, file)} is in no layer of the rule`]
    return importsOf(file, text)
      .map(layerOf)
      .filter((to) => !permitted.includes(to))
      .map((to) => `${relative(src, file)} imports ${to}/`)
  })

describe("the dependency rule", () => {
  it("holds for every source file", () => {
    const files = sourceFiles(src)
    expect(files.length).toBeGreaterThan(20)
    expect(violations(files.map((file) => ({ file, text: readFileSync(file, "utf8") })))).toEqual([])
  })

  it("reports a planted violation of each rule", () => {
    // The checker must be able to fail: one file per rule that breaks it, and legal imports
    // that must pass.
    const planted = (layer: string, specifier: string) => ({
      file: layer.endsWith(".ts") ? join(src, layer) : join(src, layer, "sub", "bad.ts"),
      text: `import { x } from "${layer.endsWith(".ts") ? "." : "../.."}/${specifier}"`
    })
    expect(
      violations([
        planted("ports", "stages/index.js"),
        planted("protocol", "adapters/tinker/index.js"),
        planted("stages", "workflows/index.js"),
        planted("stages", "adapters/local/local-backend.js"),
        planted("workflows", "recipes/load-recipe.js"),
        planted("recipes", "kitchen/index.js"),
        planted("adapters", "stages/index.js"),
        planted("adapters", "workflows/index.js"),
        planted("adapters", "recipes/index.js"),
        planted("adapters", "kitchen/index.js"),
        planted("server", "kitchen/index.js"),
        planted("kitchen", "cli/main.js"),
        planted("index.ts", "adapters/index.js"),
        planted("index.ts", "kitchen/index.js"),
        planted("durable", "cli/main.js"),
        planted("durable", "jobs/serve-jobs.js"),
        planted("jobs", "cli/main.js"),
        { file: join(src, "unlisted", "bad.ts"), text: "" },
        // allowed: these must not be reported
        planted("adapters", "protocol/index.js"),
        planted("server", "protocol/index.js"),
        planted("kitchen", "adapters/local/local-backend.js"),
        { file: join(src, "workflows", "bad.ts"), text: 'const z = await import("../stages/index.js")\nimport "../ports/index.js"' }
      ])
    ).toEqual([
      "ports/sub/bad.ts imports stages/",
      "protocol/sub/bad.ts imports adapters/",
      "stages/sub/bad.ts imports workflows/",
      "stages/sub/bad.ts imports adapters/",
      "workflows/sub/bad.ts imports recipes/",
      "recipes/sub/bad.ts imports kitchen/",
      "adapters/sub/bad.ts imports stages/",
      "adapters/sub/bad.ts imports workflows/",
      "adapters/sub/bad.ts imports recipes/",
      "adapters/sub/bad.ts imports kitchen/",
      "server/sub/bad.ts imports kitchen/",
      "kitchen/sub/bad.ts imports cli/",
      "index.ts imports adapters/",
      "index.ts imports kitchen/",
      "durable/sub/bad.ts imports cli/",
      "durable/sub/bad.ts imports jobs/",
      "jobs/sub/bad.ts imports cli/",
      "unlisted/bad.ts is in no layer of the rule"
    ])
  })

  it("sees dynamic and side-effect imports", () => {
    expect(
      violations([
        { file: join(src, "workflows", "bad.ts"), text: 'const z = await import("../recipes/load-recipe.js")' },
        { file: join(src, "recipes", "bad.ts"), text: 'import "../adapters/local/tf-runtime.js"' },
        { file: join(src, "ports", "bad.ts"), text: 'export { y } from "../stages/index.js"' }
      ])
    ).toEqual(["workflows/bad.ts imports recipes/", "recipes/bad.ts imports adapters/", "ports/bad.ts imports stages/"])
  })
})
