import type { DatumBatch, LossRequest } from "../datum-batch.js"
import type { LossResult } from "../local-trainer.js"

/** Rows `from`..`to` of a row-major [rows, width] array, each cut to its first `keep` values. */
const rows = <T extends Int32Array | Float32Array>(values: T, width: number, from: number, to: number, keep: number): T => {
  if (keep === width) return values.slice(from * width, to * width) as T
  const out = new (values.constructor as new(length: number) => T)((to - from) * keep)
  for (let row = from; row < to; row++) out.set(values.subarray(row * width, row * width + keep), (row - from) * keep)
  return out
}

/** Datums `from`..`to` of a batch, padded only to the longest of them. */
const sliceBatch = (batch: DatumBatch, from: number, to: number): DatumBatch => {
  const lengths = batch.lengths.slice(from, to)
  const length = Math.max(...lengths)
  const cut = <T extends Int32Array | Float32Array>(values: T) => rows(values, batch.length, from, to, length)
  const { feed } = batch
  const featureSize = feed.kind === "features" ? feed.values.length / batch.batchSize : 0
  return {
    batchSize: to - from,
    length,
    feed: feed.kind === "tokens"
      ? { kind: "tokens", ids: cut(feed.ids) }
      : { kind: "features", values: rows(feed.values, featureSize, from, to, featureSize), shape: feed.shape },
    targets: cut(batch.targets),
    mask: cut(batch.mask),
    inputs: new Map([...batch.inputs].map(([key, values]) => [key, cut(values)])),
    lengths
  }
}

/**
 * The request cut into at most `parts` requests of consecutive datums, as even as they can
 * be (earlier parts take the extra datum), in order. Each part is padded only to its own
 * longest datum; padding changes no result of a real position.
 */
export const splitRequest = (request: LossRequest, parts: number): Array<LossRequest> => {
  const { batchSize } = request.batch
  const count = Math.min(parts, batchSize)
  const split: Array<LossRequest> = []
  for (let part = 0, from = 0; part < count; part++) {
    const to = from + Math.floor(batchSize / count) + (part < batchSize % count ? 1 : 0)
    split.push({ ...request, batch: sliceBatch(request.batch, from, to) })
    from = to
  }
  return split
}

/**
 * The result of a request from those of its parts, in order: the losses added in that order
 * (so a fixed number of parts gives the same sum every time), the per-datum arrays joined.
 */
export const joinResults = (results: ReadonlyArray<LossResult>): LossResult => {
  const classes = results.map((result) => result.classLogprobs)
  return {
    loss: results.reduce((total, result) => total + result.loss, 0),
    targetLogprobs: results.flatMap((result) => result.targetLogprobs),
    positionLosses: results.flatMap((result) => result.positionLosses),
    classLogprobs: classes.every((part) => part !== undefined) ? classes.flat() : undefined
  }
}
