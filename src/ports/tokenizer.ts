import { Context } from "effect"

/** Turns text into token ids and back. Special tokens have ids of their own. */
export class Tokenizer extends Context.Service<Tokenizer, {
  /** Stable identifier recorded in checkpoints (e.g. `byte-v1`). */
  readonly id: string
  readonly vocabSize: number
  /** Ids of the special tokens this tokenizer knows, by name (`<|eos|>`, `<|im_start|>`, ...). */
  readonly specialTokens: Readonly<Record<string, number>>
  readonly encode: (text: string) => ReadonlyArray<number>
  readonly decode: (tokens: ReadonlyArray<number>) => string
}>()("sous/ports/Tokenizer") {}
