import { Effect } from "effect"
import { seedMix } from "../../ports/seed-mix.js"
import { type DataCursor } from "../../ports/index.js"

/**
 * A small seeded PRNG (SplitMix32-style: a Weyl sequence through {@link seedMix}). Data order
 * must be reproducible from the seed and the epoch alone, so that a resumed run sees exactly
 * the batches it would have.
 */
const mix = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x9e3779b9) >>> 0
    return seedMix(state) / 2 ** 32
  }
}

/** The order of `size` examples in `epoch`: a Fisher-Yates shuffle seeded by seed and epoch. */
export const epochOrder = (size: number, seed: number, epoch: number, shuffle: boolean): ReadonlyArray<number> => {
  const order = Array.from({ length: size }, (_, index) => index)
  if (!shuffle) return order
  const random = mix(Math.imul(seed ^ 0x5bd1e995, 31) + epoch * 0x27d4eb2d)
  for (let index = size - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1))
    ;[order[index], order[other]] = [order[other]!, order[index]!]
  }
  return order
}

/** Batches a window of the epoch's order holds when grouped by length (see {@link groupByLength}). */
export const batchesPerWindow = 32

/**
 * `order` rearranged so that each batch holds examples of similar length, which pads less:
 * windows of {@link batchesPerWindow} batches of the order are each sorted by length
 * (`lengths[index]`, ties kept in order), cut into batches, and the batches of a window
 * shuffled, seeded by seed and epoch. Every example still comes once an epoch; a window is
 * drawn at random as before, but a batch is no longer (its examples share a length).
 */
export const groupByLength = (
  order: ReadonlyArray<number>,
  lengths: ReadonlyArray<number>,
  batchSize: number,
  seed: number,
  epoch: number
): ReadonlyArray<number> => {
  const random = mix(Math.imul(seed ^ 0x1b873593, 17) + epoch * 0x165667b1)
  const window = batchSize * batchesPerWindow
  const grouped: Array<number> = []
  for (let from = 0; from < order.length; from += window) {
    const sorted = order.slice(from, from + window).sort((a, b) => lengths[a]! - lengths[b]!)
    const batches = Array.from({ length: Math.ceil(sorted.length / batchSize) }, (_, b) => sorted.slice(b * batchSize, (b + 1) * batchSize))
    // A short last batch stays last, so the batches the epoch cuts keep their sizes.
    const full = sorted.length % batchSize === 0 ? batches.length : batches.length - 1
    for (let index = full - 1; index > 0; index--) {
      const other = Math.floor(random() * (index + 1))
      ;[batches[index], batches[other]] = [batches[other]!, batches[index]!]
    }
    for (const batch of batches) grouped.push(...batch)
  }
  return grouped
}

/** A batch of example indices and the cursor after it. */
export interface NextBatch {
  readonly indices: ReadonlyArray<number>
  readonly cursor: DataCursor
}

/**
 * Takes the next `batchSize` examples from `cursor`. A batch that runs past the end of an
 * epoch continues at the start of the next one, so every batch has the same size. With
 * `lengths` (one per example) the epoch's order is grouped by length ({@link groupByLength}).
 */
export const takeBatch = (
  cursor: DataCursor,
  size: number,
  batchSize: number,
  seed: number,
  shuffle: boolean,
  lengths?: ReadonlyArray<number>
): NextBatch => {
  const orderOf = (epoch: number) => {
    const order = epochOrder(size, seed, epoch, shuffle)
    return lengths === undefined ? order : groupByLength(order, lengths, batchSize, seed, epoch)
  }
  const indices: Array<number> = []
  let { epoch, position } = cursor
  let order = orderOf(epoch)
  while (indices.length < batchSize) {
    if (position >= size) {
      epoch += 1
      position = 0
      order = orderOf(epoch)
    }
    indices.push(order[position]!)
    position += 1
  }
  return { indices, cursor: { epoch, position } }
}

/** How many of `size` examples {@link holdOut} holds out for `fraction`: at least one, never all. */
export const heldOutCount = (size: number, fraction: number): number => Math.min(size - 1, Math.max(1, Math.round(size * fraction)))

/** Splits `size` examples into held-out and training indices, deterministically from the seed. */
export const holdOut = (size: number, fraction: number, seed: number): { train: ReadonlyArray<number>; eval: ReadonlyArray<number> } => {
  const order = epochOrder(size, seed ^ 0x1b873593, 0, true)
  const evalCount = heldOutCount(size, fraction)
  return { eval: [...order.slice(0, evalCount)].sort((a, b) => a - b), train: [...order.slice(evalCount)].sort((a, b) => a - b) }
}

/** Where held-out examples come from: a file of their own, or a seeded fraction of the training data. */
export interface HeldOutSource {
  readonly eval?: string
  readonly evalFraction: number
  readonly seed: number
}

/**
 * Training and held-out items: `readEval` of the eval file when there is one, otherwise
 * `all` split by {@link holdOut}. Shared by every data-loading stage, so recipes of every
 * kind hold out the same way.
 */
export const trainEvalSplit = <A, E, R>(
  all: ReadonlyArray<A>,
  source: HeldOutSource,
  readEval: (uri: string) => Effect.Effect<ReadonlyArray<A>, E, R>
): Effect.Effect<{ readonly train: ReadonlyArray<A>; readonly eval: ReadonlyArray<A> }, E, R> => {
  if (source.eval !== undefined) return Effect.map(readEval(source.eval), (held) => ({ train: all, eval: held }))
  const split = holdOut(all.length, source.evalFraction, source.seed)
  return Effect.succeed({ train: split.train.map((index) => all[index]!), eval: split.eval.map((index) => all[index]!) })
}

/** How long a run is: `steps` when given, else `epochs` (default 1) passes of `trainSize` examples. */
export const runSteps = (
  length: { readonly steps?: number; readonly epochs?: number; readonly batchSize: number },
  trainSize: number
): number => length.steps ?? Math.max(1, Math.ceil(((length.epochs ?? 1) * trainSize) / length.batchSize))
