import { describe, expect, it } from "vitest"
import { parseArgs, UsageError } from "../../src/cli/args.js"
import { isRunCommand } from "../../src/cli/runs-command.js"

const refusal = (argv: ReadonlyArray<string>) => {
  try {
    parseArgs(argv)
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

  it("sends resume to a durable run only for a run id that names no file, so resume <dir> works as before", () => {
    expect(isRunCommand(parseArgs(["resume", "runs/a"]))).toBe(false)
    expect(isRunCommand(parseArgs(["resume", "run-mabc12-0a1b2c"]))).toBe(true)
    expect(isRunCommand(parseArgs(["pause", "run-mabc12-0a1b2c"]))).toBe(true)
    expect(isRunCommand(parseArgs(["run", "r.yaml"]))).toBe(false)
  })
})
