import { messageOf } from "../ports/thrown-message.js"
import { type FaultOptions, makeFaultPlan } from "../server/index.js"
import { UsageError } from "./args.js"

const keys: Readonly<Record<string, keyof FaultOptions>> = {
  "5xx": "rate5xx",
  "429": "rate429",
  "408": "rate408",
  "410": "rate410",
  drop: "rateDrop",
  latency: "latencyMs",
  seed: "seed"
}

/**
 * Reads `5xx=0.02,429=0.02,408=0.02,410=0.02,drop=0.02,latency=50,seed=1` into the server's
 * fault options: a rate per kind of failure, latency in milliseconds added to every answer,
 * and the seed that makes the failures repeat. Kinds left out are 0. The values are checked
 * by the server's own fault plan, so the command line and code accept the same settings.
 */
export const parseFaultSpec = (text: string): FaultOptions => {
  const options: Partial<Record<keyof FaultOptions, number>> = {}
  for (const part of text.split(",").filter((item) => item.trim() !== "")) {
    const [name = "", value = "", ...rest] = part.split("=").map((item) => item.trim())
    const key = keys[name]
    if (key === undefined) throw new UsageError({ message: `--faults knows ${Object.keys(keys).join(", ")}; got '${name}'` })
    if (rest.length > 0 || value === "" || !Number.isFinite(Number(value))) {
      throw new UsageError({ message: `--faults expects kind=number pairs, got '${part}'` })
    }
    options[key] = Number(value)
  }
  try {
    makeFaultPlan(options)
  } catch (error) {
    throw new UsageError({ message: `--faults ${text}: ${messageOf(error)}`, cause: error })
  }
  return options
}
