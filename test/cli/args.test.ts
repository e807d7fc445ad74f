import { describe, expect, it } from "vitest"
import { checkCommandLine, parseArgs, UsageError } from "../../src/cli/args.js"
import { isRunCommand } from "../../src/cli/runs-command.js"

const refusal = (argv: ReadonlyArray<string>) => {
  try {
    checkCommandLine(parseArgs(argv))
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError)
    return (error as UsageError).message
  }
  throw new Error(`${argv.join(" ")} was accepted`)
}

describe("parseArgs", () => {
  it("reads the verb, positionals, values (inline or next), repeated --set and flags", () => {
    const parsed = parseArgs(["run", "r.yaml", "--out=runs/a", "--set", "a.b=1", "--set=c=-2", "--verbose", "-h", "--port", "9000"])
    expect(parsed).toMatchObject({
      verb: "run",
      positionals: ["r.yaml"],
      out: "runs/a",
      sets: ["a.b=1", "c=-2"],
      serve: { port: "9000" },
      verbose: true,
      help: true,
      overwrite: false
    })
  })

  it("takes a value that starts with a dash, so the command can say what is wrong with it", () => {
    expect(parseArgs(["render", "r.yaml", "--limit", "-3"]).limit).toBe("-3")
    expect(parseArgs(["serve", "--port", "-1"]).serve).toEqual({ port: "-1" })
    expect(parseArgs(["run", "r.yaml", "--out", "--verbose"])).toMatchObject({ out: "--verbose", verbose: false })
  })

  it("ignores a value given to a flag, as it always has", () => {
    expect(parseArgs(["run", "r.yaml", "--verbose=true"]).verbose).toBe(true)
    expect(parseArgs(["--help=1"]).help).toBe(true)
  })

  it("refuses unknown options by the whole argument, and missing values", () => {
    expect(refusal(["run", "r.yaml", "--fast"])).toBe("unknown option --fast")
    expect(refusal(["run", "r.yaml", "--foo=bar"])).toBe("unknown option --foo=bar")
    expect(refusal(["-hv"])).toBe("unknown option -hv")
    expect(refusal(["run", "-"])).toBe("unknown option -")
    expect(refusal(["run", "--", "r.yaml"])).toBe("unknown option --")
    expect(refusal(["run", "r.yaml", "--out"])).toBe("--out needs a value")
    expect(refusal(["serve", "--faults"])).toBe("--faults needs a value")
  })

  it("reads --version and -V, and lists the options given once each, in order", () => {
    expect(parseArgs(["-V"]).version).toBe(true)
    expect(parseArgs(["run", "--version"])).toMatchObject({ verb: "run", version: true })
    expect(parseArgs(["run", "r.yaml", "--set", "a=1", "--out", "o", "--set=b=2", "--verbose"]).given).toEqual(["set", "out", "verbose"])
  })

  it("names the nearest option of the command for an unknown one, and none when nothing is close", () => {
    expect(refusal(["run", "r.yaml", "--ovewrite"])).toBe("unknown option --ovewrite; did you mean --overwrite?")
    expect(refusal(["--ovewrite=1", "run", "r.yaml"])).toBe("unknown option --ovewrite=1; did you mean --overwrite?")
    expect(refusal(["serve", "--prot", "80"])).toBe("unknown option --prot; did you mean --port?")
    expect(refusal(["jobs", "serve", "--tenant", "t.json"])).toBe("unknown option --tenant; did you mean --tenants?")
    // --port is close, but sous run takes no --port: a guess it would refuse helps no one.
    expect(refusal(["run", "r.yaml", "--prot", "80"])).toBe("unknown option --prot")
    expect(refusal(["status", "id", "--wath"])).toBe("unknown option --wath; did you mean --watch?")
  })

  it("refuses an unknown command, naming the nearest", () => {
    expect(refusal(["rnu", "r.yaml"])).toBe("unknown command 'rnu'; did you mean 'run'?")
    expect(refusal(["valdiate", "r.yaml"])).toBe("unknown command 'valdiate'; did you mean 'validate'?")
    expect(refusal(["bake", "r.yaml"])).toBe("unknown command 'bake'")
  })

  it("refuses an option of another command, naming the commands that take it", () => {
    expect(refusal(["run", "r.yaml", "--port", "80"])).toBe("--port is not an option of sous run; it is an option of sous serve and jobs serve")
    expect(refusal(["validate", "r.yaml", "--limit", "2"])).toBe("--limit is not an option of sous validate; it is an option of sous render")
    expect(refusal(["jobs", "dead-letters", "--tenants", "t.json"])).toBe("--tenants is not an option of sous jobs dead-letters; it is an option of sous jobs serve")
    expect(refusal(["pause", "run-mabc12-0a1b2c", "--checkpoint"])).toBe("--checkpoint is not an option of sous pause; it is an option of sous cancel")
    expect(refusal(["resume", "runs/a", "--set", "a=1"])).toBe("sous resume takes no --set: a run resumes with the recipe it started with (its recipe.json)")
  })

  it("takes every option a command's help lists", () => {
    const accepts = (argv: ReadonlyArray<string>) => expect(() => checkCommandLine(parseArgs(argv)), argv.join(" ")).not.toThrow()
    accepts(["run", "r.yaml", "--out", "o", "--set", "a=1", "--resume", "--fallback", "--verbose"])
    accepts(["jobs", "serve", "--tenants", "t", "--db", "d", "--home", "h", "--models", "m", "--port", "1", "--host", "h", "--no-worker"])
    accepts(["serve", "--port", "1", "--host", "h", "--state-dir", "s", "--device", "cpu", "--api-key-env", "K", "--keys", "k", "--base-models", "b", "--faults", "f"])
    accepts(["resume", "run-mabc12-0a1b2c", "--db", "d"])
    accepts(["report", "runs/a", "runs/b", "--out", "r.html"])
  })

  it("sends resume to a durable run only for a run id that names no file, so resume <dir> works as before", () => {
    expect(isRunCommand(parseArgs(["resume", "runs/a"]))).toBe(false)
    expect(isRunCommand(parseArgs(["resume", "run-mabc12-0a1b2c"]))).toBe(true)
    expect(isRunCommand(parseArgs(["pause", "run-mabc12-0a1b2c"]))).toBe(true)
    expect(isRunCommand(parseArgs(["run", "r.yaml"]))).toBe(false)
  })
})
