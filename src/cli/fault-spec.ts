import { UsageError } from "./args.js"

/** Failures `sous serve --faults` injects: a rate per kind of failure, added latency, and a seed. */
export interface FaultSpec {
  readonly rate5xx: number
  readonly rate429: number
  readonly rate408: number
  readonly rate410: number
  readonly rateDrop: number
  readonly latencyMs: number
  readonly seed: number
}

const rateKeys: Readonly<Record<string, keyof FaultSpec>> = {
  "5xx": "rate5xx",
  "429": "rate429",
  "408": "rate408",
  "410": "rate410",
  drop: "rateDrop"
}

/**
 * Reads `5xx=0.02,429=0.02,408=0.02,410=0.02,drop=0.02,latency=50,seed=1`: rates in [0, 1]
 * per kind of failure, latency in milliseconds added to every request, and the seed that makes
 * the failures repeat. Kinds left out are 0; the rates together may not exceed 1.
 */
export const parseFaultSpec = (text: string): FaultSpec => {
  const spec: Record<keyof FaultSpec, number> = { rate5xx: 0, rate429: 0, rate408: 0, rate410: 0, rateDrop: 0, latencyMs: 0, seed: 0 }
  for (const part of text.split(",").filter((item) => item.trim() !== "")) {
    const [name = "", value = "", ...rest] = part.split("=").map((item) => item.trim())
    const number = Number(value)
    if (rest.length > 0 || value === "" || !Number.isFinite(number)) {
      throw new UsageError({ message: `--faults expects kind=number pairs, got '${part}'` })
    }
    const rateKey = rateKeys[name]
    if (rateKey !== undefined) {
      if (number < 0 || number > 1) throw new UsageError({ message: `--faults ${name} is a rate between 0 and 1, got ${value}` })
      spec[rateKey] = number
    } else if (name === "latency" || name === "seed") {
      if (number < 0 || !Number.isInteger(number)) throw new UsageError({ message: `--faults ${name} must be a whole number >= 0, got ${value}` })
      spec[name === "latency" ? "latencyMs" : "seed"] = number
    } else {
      throw new UsageError({ message: `--faults knows 5xx, 429, 408, 410, drop, latency and seed, got '${name}'` })
    }
  }
  const total = spec.rate5xx + spec.rate429 + spec.rate408 + spec.rate410 + spec.rateDrop
  if (total > 1) throw new UsageError({ message: `--faults rates add up to ${total}, more than 1` })
  return spec
}
