// Writes the sft-arithmetic dataset: chats that ask for the sum of two numbers below 100.
// Run with `node examples/sft-arithmetic/make-data.ts` (Node 24 runs TypeScript directly).
// The output is committed; this script documents how it was made and can remake it.
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

// A seeded generator so the committed files can be remade byte for byte.
let state = 20261123
const random = (): number => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0
  return state / 2 ** 32
}

const phrasings = [
  (a: number, b: number) => `What is ${a} + ${b}?`,
  (a: number, b: number) => `${a} + ${b} = ?`,
  (a: number, b: number) => `Add ${a} and ${b}.`,
  (a: number, b: number) => `Compute ${a}+${b}`
]

const pairs: Array<[number, number]> = []
for (let a = 0; a < 100; a++) for (let b = 0; b < 100; b++) pairs.push([a, b])
for (let index = pairs.length - 1; index > 0; index--) {
  const other = Math.floor(random() * (index + 1))
  ;[pairs[index], pairs[other]] = [pairs[other]!, pairs[index]!]
}

const chat = ([a, b]: [number, number]) => {
  const question = phrasings[Math.floor(random() * phrasings.length)]!(a, b)
  const messages = [
    ...(random() < 0.25 ? [{ role: "system", content: "Be exact." }] : []),
    { role: "user", content: question },
    { role: "assistant", content: String(a + b) }
  ]
  return JSON.stringify({ messages })
}

// Held-out pairs never appear in training, so eval measures generalisation, not recall.
const write = (name: string, rows: Array<[number, number]>) => {
  const file = join(here, "data", name)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, rows.map(chat).join("\n") + "\n")
}
write("train.jsonl", pairs.slice(0, 3000))
write("eval.jsonl", pairs.slice(3000, 3200))
