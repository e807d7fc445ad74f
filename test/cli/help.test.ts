import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it, vi } from "vitest"
import { optionNames } from "../../src/cli/args.js"
import { main } from "../../src/cli/main.js"
import { commands, commandsTaking, globalOptions, helpFor, helpTopic, usage, verbNames } from "../../src/cli/help.js"
import { loadAnyRecipe } from "../../src/recipes/load-recipe.js"
import { testDirectory } from "../support/temp-directory.js"
import { root, runCli } from "./run-cli.js"

/** The message of the recipe error `file` (with `sets`) is refused with. */
const recipeRefusal = (file: string, sets: ReadonlyArray<string> = []) =>
  Effect.runPromise(Effect.flip(loadAnyRecipe(file, sets))).then((error) => error.message)

describe("help", () => {
  it("has help for every command: its synopsis, every option it takes, and an example", () => {
    for (const command of commands) {
      const help = helpFor(command.name)!
      expect(help.replace(/\s+/g, " "), command.name).toContain(`Usage: sous ${command.name} ${command.synopsis}`)
      for (const option of [...command.options, ...globalOptions]) {
        expect(help, `${command.name} --${option}`).toContain(`--${typeof option === "string" ? option : option[0]}`)
      }
      expect(help).toContain(`Example:\n  ${command.example}`)
    }
  })

  it("gives every option to some command, and lists every command in the overview", () => {
    // An option no command takes would be refused everywhere, and shown in no help.
    for (const name of optionNames) {
      expect(globalOptions.includes(name) || commandsTaking(name).length > 0, name).toBe(true)
    }
    const flattened = usage.replace(/\s+/g, " ")
    for (const command of commands) expect(flattened, command.name).toContain(`sous ${command.name} ${command.synopsis}`)
  })

  it("finds the command a command line names: the longest start of its words", () => {
    expect(helpTopic(["run", "r.yaml"])).toBe("run")
    expect(helpTopic(["jobs", "serve", "x"])).toBe("jobs serve")
    expect(helpTopic(["jobs", "frob"])).toBe("jobs")
    expect(helpTopic(["rnu"])).toBeUndefined()
    expect(verbNames).toContain("report")
    expect(verbNames).toContain("schema")
  })
})

/** What main printed for `argv` and the code it answered, run in this process (help never starts a run). */
const inProcess = async (argv: ReadonlyArray<string>) => {
  let stdout = ""
  let stderr = ""
  const out = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((stdout += String(chunk)), true))
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true))
  try {
    const code = await main(argv)
    return { code, stdout, stderr }
  } finally {
    out.mockRestore()
    err.mockRestore()
  }
}

describe("the sous command's help, version and did-you-mean", () => {
  it("prints the package version alone, read by the built command from the package's package.json", () => {
    const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version
    expect(runCli(["--version"])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: "" })
  })

  it("prints a command's own help for sous <command> --help and sous help <command>, the overview for --help", async () => {
    for (const command of commands) {
      const own = await inProcess([...command.name.split(" "), "--help"])
      expect(own.code, command.name).toBe(0)
      expect(own.stdout, command.name).toContain(`Usage: sous ${command.name} `)
    }
    expect(await inProcess(["run", "r.yaml", "-h"])).toEqual({ code: 0, stdout: helpFor("run"), stderr: "" })
    expect(await inProcess(["help", "jobs", "serve"])).toEqual({ code: 0, stdout: helpFor("jobs serve"), stderr: "" })
    expect((await inProcess(["help", "jobs"])).stdout).toBe(helpFor("jobs"))
    expect(await inProcess(["--help"])).toEqual({ code: 0, stdout: usage, stderr: "" })
    expect(await inProcess(["help"])).toEqual({ code: 0, stdout: usage, stderr: "" })
    expect(await inProcess([])).toEqual({ code: 2, stdout: usage, stderr: "" })
  })

  it("names the nearest command or option, and shows the command's help rather than the overview (exit 2)", async () => {
    const verb = runCli(["rnu", "r.yaml"])
    expect(verb.code).toBe(2)
    expect(verb.stderr).toBe(`sous: unknown command 'rnu'; did you mean 'run'?\n\ncommands: ${verbNames.join(", ")}; sous --help describes them\n`)
    expect((await inProcess(["help", "rnu"])).stderr).toBe(verb.stderr)
    expect(await inProcess(["run", "r.yaml", "--ovewrite"])).toEqual({
      code: 2,
      stdout: "",
      stderr: `sous: unknown option --ovewrite; did you mean --overwrite?\n\n${helpFor("run")}`
    })
    const foreign = await inProcess(["jobs", "serve", "--tenants", "t.json", "--out", "x"])
    expect(foreign.code).toBe(2)
    expect(foreign.stderr).toBe(`sous: --out is not an option of sous jobs serve; it is an option of sous run, report, export and submit\n\n${helpFor("jobs serve")}`)
  })
})

describe("did you mean, in recipes", () => {
  it("names the nearest key at any depth, in --set paths and in a pipeline's inline recipe", async () => {
    const dir = testDirectory("did-you-mean")
    const train = join(dir, "train.jsonl")
    writeFileSync(train, `${JSON.stringify({ messages: [{ role: "user", content: "1+1?" }, { role: "assistant", content: "2" }] })}\n`)
    const recipe = join(dir, "recipe.yaml")
    writeFileSync(recipe, `kind: supervised\ndata:\n  train: ${train}\nmodle:\n  contextLength: 8\ntraining:\n  batchSzie: 2\n`)
    const inFile = await recipeRefusal(recipe)
    expect(inFile).toContain('modle: expected no excess property; did you mean "model"?')
    expect(inFile).toContain('training.batchSzie: expected no excess property; did you mean "batchSize"?')
    const plain = join(dir, "plain.yaml")
    writeFileSync(plain, `kind: supervised\ndata:\n  train: ${train}\n`)
    const set = await recipeRefusal(plain, ["optimzer.lr=1", "eval.evry=3"])
    expect(set).toContain('optimzer: expected no excess property; did you mean "optimizer"?')
    expect(set).toContain('eval.evry: expected no excess property; did you mean "every"?')
    const pipeline = join(dir, "pipeline.yaml")
    writeFileSync(pipeline, `kind: pipeline\nnaem: p\nstages:\n  - name: a\n    recipe:\n      kind: supervised\n      data:\n        train: ${train}\n        evl: ${train}\n`)
    expect(await recipeRefusal(pipeline)).toContain('data.evl: expected no excess property; did you mean "eval"?')
  })
})
