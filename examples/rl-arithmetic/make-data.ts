// Writes the rl-arithmetic prompts: chats that ask for the sum of two numbers below 20, in
// the four phrasings the sft-arithmetic model was trained on, each ending with the answer
// the environment checks replies against.
// Run with `node examples/rl-arithmetic/make-data.ts` (Node 24 runs TypeScript directly).
// The output is committed; this script documents how it was made and can remake it.
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

// A seeded generator so the committed files can be remade byte for byte.
let state = 7
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
for (let a = 0; a < 20; a++) for (let b = 0; b < 20; b++) pairs.push([a, b])
for (let index = pairs.length - 1; index > 0; index--) {
  const other = Math.floor(random() * (index + 1))
  ;[pairs[index], pairs[other]] = [pairs[other]!, pairs[index]!]
}

const chat = (a: number, b: number, phrasing: number, system: boolean) =>
  JSON.stringify({
    messages: [
      ...(system ? [{ role: "system", content: "Be exact." }] : []),
      { role: "user", content: phrasings[phrasing]!(a, b) },
      { role: "assistant", content: String(a + b) }
    ]
  })

const write = (name: string, rows: Array<string>) => {
  const file = join(here, "data", name)
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, rows.join("\n") + "\n")
}

// A fifth of the pairs are held out: eval asks for sums the policy never practised.
const held = pairs.slice(0, 80)
const train = pairs.slice(80)
write("eval.jsonl", held.map(([a, b], index) => chat(a, b, index % 4, false)))
write("train.jsonl", train.flatMap(([a, b]) => phrasings.map((_, phrasing) => chat(a, b, phrasing, random() < 0.25))))

// The starting model's demonstrations: the same training questions, answered by a sloppy
// demonstrator that ends three answers in five with a full stop ("18."). A model trained on
// them answers greedily with the stop, which the exact-match check refuses; sampled, it
// still gives the bare number two times in five, which is what RL has to find and reinforce.
const sloppy = (a: number, b: number, phrasing: number) =>
  JSON.stringify({
    messages: [
      { role: "user", content: phrasings[phrasing]!(a, b) },
      { role: "assistant", content: `${a + b}${random() < 0.6 ? "." : ""}` }
    ]
  })
write("sft.jsonl", train.flatMap(([a, b]) => phrasings.map((_, phrasing) => sloppy(a, b, phrasing))))
