/** The hf-model bench's report: sous's phases beside torch's, and their ratios. */
import { type HfPhase, hfPhases, type HfPhaseResult } from "./hf-phases.js"
import { formatTable, median } from "./report.js"

/** One side's results by phase. */
export type HfSide = ReadonlyMap<HfPhase, HfPhaseResult>

/** The sizes the report states. */
export interface HfReportSizes {
  readonly batch: number
  readonly length: number
  readonly rank: number
}

const mib = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 2 ** 20)

/** A cell: the value, "failed" for a phase that did not finish, "-" for one not measured. */
type Cell = number | "failed" | undefined

const ok = (result: HfPhaseResult | undefined) => (result?.failed === undefined ? result : undefined)

/** Per second of the median item, so one slow step does not drag the rate. */
const rate = (result: HfPhaseResult | undefined, perItem: number): Cell =>
  result?.failed !== undefined ? "failed" : result === undefined ? undefined : perItem / median(result.seconds)

/** Generated tokens per second of the median request. */
const sampling = (result: HfPhaseResult | undefined): Cell =>
  result?.failed !== undefined
    ? "failed"
    : result?.tokens === undefined
    ? undefined
    : median(result.seconds.map((seconds, i) => result.tokens![i]! / seconds))

const text = (cell: Cell, digits: number) => (cell === undefined ? "-" : cell === "failed" ? "failed" : cell.toFixed(digits))
const ratio = (sous: Cell, torch: Cell) => (typeof sous === "number" && typeof torch === "number" ? (sous / torch).toFixed(3) : "-")

/** Each timed item's seconds, or why the phase failed, with the time its client took to create. */
const detail = (label: string, result: HfPhaseResult | undefined) => {
  if (result === undefined) return `${label}: not run`
  const setup = result.setupSeconds === undefined ? "" : ` (client created in ${result.setupSeconds.toFixed(1)} s)`
  return result.failed !== undefined
    ? `${label}: failed${setup}: ${result.failed}`
    : `${label}: ${result.seconds.map((seconds) => seconds.toFixed(2)).join(", ")} s${setup}`
}

const deviceOf = (side: HfSide) => {
  const result = [...side.values()].find((next) => next.device !== undefined)
  return result === undefined ? "?" : `${result.device}, ${result.threads} thread(s)`
}

export const hfReport = (sizes: HfReportSizes, sous: HfSide, torch: HfSide | undefined): string => {
  const tokensPerStep = sizes.batch * sizes.length
  const row = (label: string, pick: (side: HfSide) => Cell, digits: number) => {
    const mine = pick(sous)
    const theirs = torch === undefined ? undefined : pick(torch)
    return [label, text(mine, digits), ...(torch === undefined ? [] : [text(theirs, digits), ratio(mine, theirs)])]
  }
  const memory = (phase: HfPhase, field: "maxRssBytes" | "tensorBytes" | "wasmHeapBytes") => (side: HfSide) =>
    mib(side.get(phase)?.[field])
  const trained = (side: HfSide | undefined, phase: HfPhase) => side?.get(phase)?.trainedParameters?.toLocaleString("en-US") ?? "-"
  return [
    `sous: ${deviceOf(sous)}` + (torch === undefined ? "" : `; torch: ${deviceOf(torch)}`),
    `weights trained: full ${trained(sous, "full")} (torch ${trained(torch, "full")}), ` +
    `LoRA r${sizes.rank} ${trained(sous, "lora")} (torch ${trained(torch, "lora")})`,
    "",
    formatTable([
      ["measure (median of timed items)", "sous", ...(torch === undefined ? [] : ["torch", "sous/torch"])],
      row("load checkpoint, s", (side) => ok(side.get("load"))?.seconds[0], 2),
      row(`full fine-tuning, steps/s (${sizes.batch} x ${sizes.length} tokens)`, (side) => rate(side.get("full"), 1), 3),
      row("full fine-tuning, tokens/s", (side) => rate(side.get("full"), tokensPerStep), 0),
      row(`LoRA r${sizes.rank}, steps/s`, (side) => rate(side.get("lora"), 1), 3),
      row(`LoRA r${sizes.rank}, tokens/s`, (side) => rate(side.get("lora"), tokensPerStep), 0),
      row("greedy sampling, tokens/s", (side) => sampling(side.get("sample")), 2),
      ...hfPhases.map((phase) => row(`peak RSS, ${phase} process, MiB`, memory(phase, "maxRssBytes"), 0)),
      ...hfPhases.map((phase) => row(`tfjs tensors at end of ${phase}, MiB`, memory(phase, "tensorBytes"), 0)),
      ...hfPhases.map((phase) => row(`wasm heap at end of ${phase}, MiB`, memory(phase, "wasmHeapBytes"), 0))
    ]),
    "",
    "sous/torch: above 1 for a rate means sous is faster; for seconds and MiB, that sous takes more.",
    ...[["sous", sous] as const, ...(torch === undefined ? [] : [["torch", torch] as const])].flatMap(([label, side]) =>
      hfPhases.map((phase) => detail(`${label} ${phase}`, side.get(phase)))
    )
  ].join("\n")
}
