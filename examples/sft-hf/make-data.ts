// Writes the sft-hf dataset: chats that ask for a number below 1000 in English words
// ("Write 347 in words." -> "three hundred forty-seven").
// Run with `node examples/sft-hf/make-data.ts` (Node 24 runs TypeScript directly), then
// `python3 scripts/hf-fixtures/make-example-model.py`, whose tokenizer is trained on this data.
// The output is committed; this script documents how it was made and can remake it.
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

// A seeded generator so the committed files can be remade byte for byte.
let state = 20261216
const random = (): number => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0
  return state / 2 ** 32
}
const pick = <T>(items: ReadonlyArray<T>): T => items[Math.floor(random() * items.length)]!

const units = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
const teens = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
const tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]

/** A number below 100 in words; American style, hyphenated: "forty-seven". */
const belowHundred = (n: number): string =>
  n < 10 ? units[n]! : n < 20 ? teens[n - 10]! : tens[Math.floor(n / 10)]! + (n % 10 === 0 ? "" : `-${units[n % 10]}`)

/** A number below 1000 in words, without "and": "three hundred forty-seven". */
const inWords = (n: number): string => {
  const hundreds = Math.floor(n / 100)
  const rest = n % 100
  if (hundreds === 0) return belowHundred(rest)
  return `${units[hundreds]} hundred` + (rest === 0 ? "" : ` ${belowHundred(rest)}`)
}

const phrasings = [
  (n: number) => `Write ${n} in words.`,
  (n: number) => `How do you say ${n} in English?`,
  (n: number) => `Spell out the number ${n}.`,
  (n: number) => `${n} in words, please.`
]

const chat = (n: number) => {
  const messages = [
    ...(random() < 0.25 ? [{ role: "system", content: "Answer in lowercase words." }] : []),
    { role: "user", content: pick(phrasings)(n) },
    { role: "assistant", content: inWords(n) }
  ]
  return JSON.stringify({ messages })
}

const numbers = Array.from({ length: 1000 }, (_, n) => n)
for (let index = numbers.length - 1; index > 0; index--) {
  const other = Math.floor(random() * (index + 1))
  ;[numbers[index], numbers[other]] = [numbers[other]!, numbers[index]!]
}

// Held-out numbers never appear in training, so eval measures whether the model learned the
// rule (hundreds, tens, units) rather than recalling answers. Each training number is asked
// twice, in phrasings drawn independently.
const heldOut = numbers.slice(0, 100)
const trained = numbers.slice(100)
const write = (name: string, rows: ReadonlyArray<number>) => {
  const file = join(here, "data", name)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, rows.map(chat).join("\n") + "\n")
}
write("train.jsonl", [...trained, ...trained])
write("eval.jsonl", heldOut)
