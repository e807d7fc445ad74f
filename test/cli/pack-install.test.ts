import { spawnSync } from "node:child_process"
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, writeFileSync } from "node:fs"
import { delimiter, dirname, join, posix } from "node:path"
import { beforeAll, describe, expect, it } from "vitest"
import { readSummary } from "../support/run-directory.js"
import { suiteDirectory, testDirectory } from "../support/temp-directory.js"
import { root } from "./run-cli.js"

// The package as users get it: `npm pack` of this checkout, installed into a fresh project and
// globally, and `sous` run from there. Dependencies come from the npm cache that `npm ci`
// filled (--prefer-offline); the registry may be asked about anything missing.

const packageJson = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  readonly version: string
  readonly engines: { readonly node: string }
}

// Child processes run as in a user's shell: the Node running these tests first on PATH (the
// system Node may be older than sous needs), and none of the npm_* variables `npm test` sets,
// which a nested npm would take for its own configuration.
const env: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith("npm_"))),
  PATH: [dirname(process.execPath), process.env.PATH].join(delimiter)
}

interface Result {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string): Result => {
  const result = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: 150_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** Runs a command that must succeed; a failure names the command, where it ran and its output. */
const succeed = (command: string, args: ReadonlyArray<string>, cwd: string): Result => {
  const result = run(command, args, cwd)
  expect(result.code, `${command} ${args.join(" ")} (in ${cwd}) exited ${result.code}:\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result
}

/** npm's warnings that name the sous package, e.g. about its install scripts. */
const warningsAboutSous = (output: string) => output.split("\n").filter((line) => /^npm warn/i.test(line) && /\bsous\b/.test(line))

const offline = ["--prefer-offline", "--no-audit", "--no-fund"]

describe("the packed sous package", () => {
  const work = suiteDirectory("pack")
  const unpacked = join(work, "unpacked", "package")
  let tarball = ""
  let packed: ReadonlyArray<string> = []

  beforeAll(() => {
    if (!existsSync(join(root, "dist/cli/main.js"))) throw new Error(`${root}/dist is not built: run \`npm run build\` first (npm test does)`)
    // --ignore-scripts skips prepack's clean rebuild of dist/, which other test files run from;
    // dist/ was built by `npm test` (or the check above fails).
    const pack = succeed("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], root)
    expect(warningsAboutSous(pack.stderr)).toEqual([])
    const [info] = JSON.parse(pack.stdout) as Array<{ readonly filename: string; readonly files: Array<{ readonly path: string }> }>
    tarball = join(work, info!.filename)
    packed = info!.files.map((file) => file.path)
    mkdirSync(dirname(unpacked), { recursive: true })
    succeed("tar", ["-xzf", tarball, "-C", dirname(unpacked)], work)
  }, 60_000)

  it("holds the compiled CLI and library, bin/sous, the schemas and the README, and nothing from src/ or test/", () => {
    expect(packed).toEqual(expect.arrayContaining(["package.json", "README.md", "bin/sous", "dist/cli/main.js", "dist/index.js", "dist/index.d.ts"]))
    // npm packs a LICENSE file whatever `files` says.
    expect(packed.filter((path) => !/^(dist\/.+|schemas\/[^/]+\.json|bin\/sous|README\.md|package\.json|LICEN[CS]E(\.\w+)?)$/.test(path))).toEqual([])
    // Every relative module a packed file imports is packed too.
    const missing: Array<string> = []
    for (const file of packed.filter((path) => path.endsWith(".js"))) {
      const text = readFileSync(join(unpacked, file), "utf8")
      for (const [, specifier] of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)"(\.\.?\/[^"]+)"/g)) {
        const target = posix.join(posix.dirname(file), specifier!)
        if (!packed.includes(target)) missing.push(`${file} imports ${specifier}`)
      }
    }
    expect(missing).toEqual([])
  })

  it("declares the sous command and no script that runs at install", () => {
    const manifest = JSON.parse(readFileSync(join(unpacked, "package.json"), "utf8")) as { bin?: unknown; scripts?: Record<string, string> }
    expect(manifest.bin).toEqual({ sous: "bin/sous" })
    const installScripts = ["preinstall", "install", "postinstall", "prepare"].filter((name) => manifest.scripts?.[name] !== undefined)
    expect(installScripts).toEqual([])
  })

  it("installed into a fresh project, runs as `npx sous`: --version and a short training run", () => {
    const project = testDirectory("consumer")
    succeed("npm", ["init", "-y"], project)
    const install = succeed("npm", ["install", tarball, ...offline], project)
    expect(warningsAboutSous(install.stdout + install.stderr)).toEqual([])

    // --yes=false: were the command not installed, npx would fetch a registry package named sous.
    expect(succeed("npx", ["--yes=false", "sous", "--version"], project).stdout).toBe(`${packageJson.version}\n`)

    // The example's recipe and data, copied (nothing of this checkout is reachable from here),
    // with 20 of its 200 eval conversations so the run's two evaluations take little time.
    const example = join(root, "examples/sft-arithmetic")
    cpSync(join(example, "recipe.yaml"), join(project, "example/recipe.yaml"))
    cpSync(join(example, "data/train.jsonl"), join(project, "example/data/train.jsonl"))
    const evalRows = readFileSync(join(example, "data/eval.jsonl"), "utf8").split("\n").slice(0, 20)
    writeFileSync(join(project, "example/data/eval.jsonl"), `${evalRows.join("\n")}\n`)
    succeed("npx", [
      "--yes=false", "sous", "run", "example/recipe.yaml", "--out", "runs/short",
      "--set", "training.steps=3", "--set", "optimizer.warmupSteps=0", "--set", "eval.every=0",
      "--set", "checkpoint.every=0", "--set", "backend.device=wasm"
    ], project)
    expect(readSummary(join(project, "runs/short")).steps).toBe(3)
  }, 180_000)

  it("installed globally, runs as the prefix's bin/sous", () => {
    const prefix = testDirectory("global")
    const install = succeed("npm", ["install", "--global", "--prefix", prefix, tarball, ...offline], prefix)
    expect(warningsAboutSous(install.stdout + install.stderr)).toEqual([])
    expect(succeed(join(prefix, "bin/sous"), ["--version"], prefix).stdout).toBe(`${packageJson.version}\n`)
  }, 180_000)

  // The system Node of the development machines is 20: the command must say what it needs there
  // instead of failing on a Node API the CLI imports (Node 20 lacks zlib.zstdCompressSync).
  const oldNode = "/usr/bin/node"
  const oldVersion = existsSync(oldNode) ? run(oldNode, ["-p", "process.versions.node"], root).stdout.trim() : undefined
  const isOlder = (version: string, than: string) => {
    const [a, b] = [version, than].map((text) => text.split(".").map(Number))
    const index = a!.findIndex((part, i) => part !== (b![i] ?? 0))
    return index !== -1 && a![index]! < (b![index] ?? 0)
  }
  const required = packageJson.engines.node.replace(/^>=\s*/, "")
  const oldNodeSkip = oldVersion === undefined
    ? `skipped: no ${oldNode}`
    : isOlder(oldVersion, required) ? undefined : `skipped: ${oldNode} is Node ${oldVersion}, not older than ${required}`
  if (oldNodeSkip !== undefined) console.warn(`Old-Node test ${oldNodeSkip}`)

  it.skipIf(oldNodeSkip !== undefined)(`on an older Node, says which Node it needs${oldNodeSkip === undefined ? "" : ` (${oldNodeSkip})`}`, () => {
    const result = run(oldNode, [join(unpacked, "bin/sous"), "--version"], root)
    expect(result.stdout).toBe("")
    expect(result.stderr).toContain(`sous needs Node >= ${required}; this is Node ${oldVersion} (${oldNode})`)
    expect(result.stderr).toContain("npx -p node@24 sous")
    expect(result.code).toBe(1)
  })
})

describe("bin/sous before it loads the CLI", () => {
  /** A package holding only this checkout's bin/sous and the given package.json. */
  const fakePackage = (manifest: object) => {
    const directory = testDirectory("bin")
    mkdirSync(join(directory, "bin"))
    copyFileSync(join(root, "bin/sous"), join(directory, "bin/sous"))
    writeFileSync(join(directory, "package.json"), JSON.stringify({ type: "module", ...manifest }))
    return directory
  }

  it("compares this Node with engines.node, patch included", () => {
    const [major, minor, patch] = process.versions.node.split(".").map(Number)
    const tooNew = `${major}.${minor}.${patch! + 1}`
    const result = run(process.execPath, [join(fakePackage({ engines: { node: `>=${tooNew}` } }), "bin/sous")], root)
    expect(result.stderr).toContain(`sous needs Node >= ${tooNew}; this is Node ${process.versions.node} (${process.execPath})`)
    expect(result.code).toBe(1)
  })

  it("without dist/, names the command that builds it", () => {
    const directory = fakePackage({ engines: { node: `>=${process.versions.node}` } })
    const result = run(process.execPath, [join(directory, "bin/sous"), "--version"], root)
    expect(result.stderr).toBe(`sous: ${join(directory, "dist/cli/main.js")} is missing: the CLI is not built. Run \`npm run build\` in ${directory}\n`)
    expect(result.code).toBe(1)
  })

  it("refuses an engines.node it cannot read, naming it", () => {
    const result = run(process.execPath, [join(fakePackage({ engines: { node: "^22.19" } }), "bin/sous")], root)
    expect(result.stderr).toContain(`engines.node is "^22.19"`)
    expect(result.code).toBe(1)
  })
})

describe("npx sous in this checkout", () => {
  // npm 11 answers `npx sous` in a package that declares the sous bin by linking the package into
  // its npx cache: the command must run this checkout itself (not a copy that goes stale, nor
  // a registry package named sous). --offline with an empty cache shows nothing is fetched.
  it("runs this checkout's CLI, through a link to it", () => {
    const cache = testDirectory("npx-cache")
    expect(succeed("npx", ["--offline", "--cache", cache, "sous", "--version"], root).stdout).toBe(`${packageJson.version}\n`)
    const entries = readdirSync(join(cache, "_npx"))
    expect(entries).toHaveLength(1)
    expect(realpathSync(join(cache, "_npx", entries[0]!, "node_modules/sous"))).toBe(realpathSync(root))
  }, 60_000)
})
