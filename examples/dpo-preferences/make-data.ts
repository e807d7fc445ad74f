// Writes the dpo-preferences dataset: questions that ask for the sum of two numbers below
// 100, each with the sum as the chosen reply and the difference, the answer to the question
// not asked, as the rejected one.
// Run with `node examples/dpo-preferences/make-data.ts` (Node 24 runs TypeScript directly).
// The output is committed; this script documents how it was made and can remake it.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

// A seeded generator so the committed files can be remade byte for byte.
let state = 20261124
const random = (): number => {
  state = (Math.imul(state, 1664525) + 1013904223) >>> 0
  return state / 2 ** 32
}
const pick = <A>(items: ReadonlyArray<A>): A => items[Math.floor(random() * items.length)]!

// The phrasings of examples/sft-arithmetic, whose model this one starts from.
const phrasings = [
  (a: number, b: number) => `What is ${a} + ${b}?`,
  (a: number, b: number) => `${a} + ${b} = ?`,
  (a: number, b: number) => `Add ${a} and ${b}.`,
  (a: number, b: number) => `Compute ${a}+${b}`
]

// The sums the SFT model trained on: held-out pairs avoid them too, so eval measures
// generalisation, not recall of the SFT data.
const sftPairs = new Set(
  readFileSync(join(here, "../sft-arithmetic/data/train.jsonl"), "utf8").trim().split("\n").map((line) => {
    const user = (JSON.parse(line).messages as Array<{ role: string; content: string }>).find((m) => m.role === "user")!
    return user.content.match(/\d+/g)!.slice(0, 2).join("+")
  })
)

// With a zero the sum and the difference are the same number: no preference to learn.
const pairs: Array<[number, number]> = []
for (let a = 1; a < 100; a++) for (let b = 1; b < 100; b++) pairs.push([a, b])
for (let index = pairs.length - 1; index > 0; index--) {
  const other = Math.floor(random() * (index + 1))
  ;[pairs[index], pairs[other]] = [pairs[other]!, pairs[index]!]
}

const row = ([a, b]: [number, number]) =>
  JSON.stringify({
    prompt: [{ role: "user", content: pick(phrasings)(a, b) }],
    chosen: [{ role: "assistant", content: String(a + b) }],
    rejected: [{ role: "assistant", content: String(Math.abs(a - b)) }]
  })

const write = (name: string, rows: Array<[number, number]>) => {
  const file = join(here, "data", name)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, rows.map(row).join("\n") + "\n")
}
const unseen = pairs.filter(([a, b]) => !sftPairs.has(`${a}+${b}`))
write("eval.jsonl", unseen.slice(0, 200))
const evalPairs = new Set(unseen.slice(0, 200).map(([a, b]) => `${a}+${b}`))
write("train.jsonl", pairs.filter(([a, b]) => !evalPairs.has(`${a}+${b}`)).slice(0, 1000))
