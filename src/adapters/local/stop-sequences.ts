import type { SamplingParams } from "../../ports/index.js"

/** Turns token ids into text: a tokenizer's `decode`. */
export type Decode = (tokens: ReadonlyArray<number>) => string

/** Stop strings, and the decoder that makes the text they are looked for in. */
export interface StopText {
  readonly strings: ReadonlyArray<string>
  readonly decode: Decode
}

/**
 * Where a continuation ends: at a stop token, or at the token whose decoding makes the
 * continuation's text (never the prompt's) contain a stop string. Either way the token
 * that ends it is kept as its last token, so the stop string itself is part of the output,
 * possibly followed by the rest of that token's text.
 */
export interface StopRule {
  readonly tokens: ReadonlySet<number>
  readonly text?: StopText
}

/**
 * The protocol's `stop` (a string, strings, or token ids) as a {@link StopRule}, or why it
 * cannot be honoured: stop strings need `decode`, and an empty one would end every
 * continuation at its first token.
 */
export const stopRule = (stop: SamplingParams["stop"], decode: Decode | undefined): StopRule | string => {
  const stops = stop === undefined ? [] : typeof stop === "string" ? [stop] : stop
  const tokens = new Set<number>()
  const strings: Array<string> = []
  for (const item of stops) {
    if (typeof item === "number") tokens.add(item)
    else strings.push(item)
  }
  if (strings.length === 0) return { tokens }
  if (decode === undefined) {
    return "stop strings need a tokenizer to decode the continuation, and this sampling client has none: give stop as token ids"
  }
  if (strings.includes("")) return "a stop string must not be empty"
  return { tokens, text: { strings, decode } }
}

/**
 * Says whether the token just appended to a continuation ends it. A check remembers the
 * text it has decoded, so each continuation needs its own, called after every token.
 */
export type StopCheck = (continuation: ReadonlyArray<number>) => boolean

// U+FFFD is what a decoder shows for an unfinished UTF-8 character: text ending in it may
// still change when the next token arrives.
const unfinished = "\uFFFD"

// Decoding the whole continuation after every token would cost time quadratic in its
// length, and decoding a fixed number of trailing tokens is wrong: a token can decode to ""
// (a piece of a UTF-8 character, a skipped special token) or to many characters, and a
// window that starts inside a character decodes to U+FFFD. So the text is decoded
// incrementally, as streaming detokenizers do. The text before `settledEnd` is final: it
// was cut where the decoding did not end in U+FFFD, at a character boundary. Each call
// decodes the tokens after that cut, together with the previous settled piece as context
// (SentencePiece decoders drop the leading space of a text's first token), and keeps the
// characters the context does not account for. A stop string not found earlier must end
// in those fresh characters and can begin at most `reach` characters before them, in
// `tail`: so the first token that completes one is the one reported.
const makeTextCheck = ({ strings, decode }: StopText): StopCheck => {
  const reach = Math.max(...strings.map((s) => s.length)) - 1
  let tail = ""
  let contextStart = 0
  let settledEnd = 0
  return (continuation) => {
    const context = decode(continuation.slice(contextStart, settledEnd))
    const fresh = decode(continuation.slice(contextStart)).slice(context.length)
    const recent = tail + fresh
    if (strings.some((s) => recent.includes(s))) return true
    if (fresh.length > 0 && !fresh.endsWith(unfinished)) {
      tail = recent.slice(Math.max(0, recent.length - reach))
      contextStart = settledEnd
      settledEnd = continuation.length
    }
    return false
  }
}

/** A fresh {@link StopCheck} for one continuation under `rule`. */
export const makeStopCheck = (rule: StopRule): StopCheck => {
  const endsOnToken: StopCheck = (continuation) => rule.tokens.has(continuation[continuation.length - 1]!)
  if (rule.text === undefined) return endsOnToken
  const endsOnText = makeTextCheck(rule.text)
  return (continuation) => endsOnToken(continuation) || endsOnText(continuation)
}
