/**
 * The PyTorch side of the local-backend bench: finds out whether `python3` can import torch,
 * starts bench/torch-reference.py (the same models, optimizer and sampling in PyTorch) as
 * lockstep children, and prints sous against torch. CI never needs Python: without torch
 * the bench says why and measures sous alone.
 */
import { execFile } from "node:child_process"
import { formatTable, type LockstepChild, median, startLockstepChild } from "./report.js"

/** The reference script, relative to the repository root the bench runs from. */
const script = "bench/torch-reference.py"

/** What one round of the reference measures: steps/s of each model, tokens/s of its sample requests. */
export interface TorchRound {
  readonly transformer: number
  readonly mlp: number
  readonly sampling: number
}

/** sous's round beside the reference's: the same measures, and the transformer on one thread where measured. */
type SousRound = TorchRound & { readonly transformerOneThread?: number }

/** What the reference prints once warmed up. */
export interface TorchHeader {
  readonly device: string
  readonly threads: number
  readonly transformerParameters: number
  readonly mlpParameters: number
}

/** Whether the comparison can run: the torch version, or why not. */
export type TorchProbe = { readonly available: true; readonly version: string } | { readonly available: false; readonly reason: string }

/** Asks `python` to import torch. Never fails: a missing interpreter or package is a reason to skip. */
export const probeTorch = (python: string): Promise<TorchProbe> =>
  new Promise((resolve) => {
    execFile(python, ["-c", "import torch; print(torch.__version__)"], { timeout: 120_000 }, (error, stdout, stderr) => {
      if (error === null) return resolve({ available: true, version: stdout.trim() })
      const reason = (error as NodeJS.ErrnoException).code === "ENOENT"
        ? `${python} was not found`
        // The last line of a Python traceback names the problem (ModuleNotFoundError, a missing .so).
        : `${python} cannot import torch (${stderr.trim().split("\n").at(-1) ?? error.message})`
      resolve({ available: false, reason })
    })
  })

/** The sizes of a round, shared with sous's worker so both do the same work. */
export interface TorchOptions {
  readonly steps: number
  readonly warmup: number
  readonly samples: number
  readonly maxTokens: number
  readonly requests: number
}

/**
 * How torch's OpenMP threads wait between parallel regions: `OMP_WAIT_POLICY` from the
 * environment, else passive. libgomp's threads otherwise spin at each region's barrier; on
 * a 2-core machine busy with other work the spinning thread holds the core its partner
 * needs, and 2 threads ran 15x slower than 1 (1.9 against 30 transformer steps/s; 30 with
 * passive waits). The bench compares with torch as it runs well, not with that.
 */
export const ompWaitPolicy = process.env["OMP_WAIT_POLICY"] ?? "PASSIVE"

/** Starts the reference with `threads` torch threads and waits until it has warmed up. */
export const startTorchReference = (
  python: string,
  threads: number,
  options: TorchOptions
): Promise<LockstepChild<TorchHeader, TorchRound>> =>
  startLockstepChild(
    `the torch reference (${threads} thread(s))`,
    python,
    [
      script,
      "--lockstep",
      "--threads", String(threads),
      "--steps", String(options.steps),
      "--warmup", String(options.warmup),
      "--samples", String(options.samples),
      "--max-tokens", String(options.maxTokens),
      "--requests", String(options.requests)
    ],
    { OMP_WAIT_POLICY: ompWaitPolicy }
  )

const fixed = (value: number, digits: number) => value.toFixed(digits)

/**
 * sous (wasm) against torch with one and two threads: the median of each, and each ratio
 * as the median of the paired rounds' ratios, since round i of every child ran back to back.
 */
export const torchTable = (
  sous: ReadonlyArray<SousRound>,
  oneThread: ReadonlyArray<TorchRound>,
  twoThreads: ReadonlyArray<TorchRound>
): string => {
  // `sousPick` reads sous's side where it is another measure of the same work.
  const row = (label: string, pick: (round: TorchRound) => number, digits: number, sousPick: (round: SousRound) => number = pick) => {
    const ours = sous.map(sousPick)
    const [one, two] = [oneThread.map(pick), twoThreads.map(pick)]
    const ratio = (theirs: ReadonlyArray<number>) => median(ours.map((value, index) => value / theirs[index]!))
    return [label, fixed(median(ours), digits), fixed(median(one), digits), fixed(median(two), digits), fixed(ratio(one), 3), fixed(ratio(two), 3)]
  }
  return formatTable([
    ["measure (median of rounds)", "sous wasm", "torch 1 thr", "torch 2 thr", "sous/torch1", "sous/torch2"],
    row("transformer full, steps/s", (r) => r.transformer, 2),
    ...(sous.every((r) => r.transformerOneThread !== undefined)
      ? [row("transformer, sous on 1 thread", (r) => r.transformer, 2, (r) => r.transformerOneThread!)]
      : []),
    row("mlp, steps/s", (r) => r.mlp, 2),
    row("sampling, tokens/s", (r) => r.sampling, 1)
  ])
}
