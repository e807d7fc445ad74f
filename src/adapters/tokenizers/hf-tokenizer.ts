import { createHash } from "node:crypto"
import { readFile } from "node:fs/promises"
import { dirname, join } from "node:path"
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers"
import { Effect, Schema } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { Tokenizer } from "../../ports/index.js"

/** A Hugging Face tokenizer file that cannot be read, parsed or loaded; `path` names the file. */
export class TokenizerLoadError extends Schema.TaggedError<TokenizerLoadError>()("TokenizerLoadError", {
  path: Schema.String,
  message: Schema.String,
  /** What the failure came from (a file system or parser error), for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}

// The part of the library's Tokenizer that sous uses. Its bundled declarations import their
// own files without extensions, which NodeNext resolution cannot follow, so TypeScript sees
// the class as `any`; this keeps the calls below checked. `ids` can hold `undefined` for a
// piece with no id and no unk_token.
interface HfTokenizerApi {
  encode(text: string, options: { readonly add_special_tokens: boolean }): { readonly ids: ReadonlyArray<number | undefined> }
  decode(ids: ReadonlyArray<number>, options: { readonly clean_up_tokenization_spaces: boolean }): string
  id_to_token(id: number): string | undefined
  get_vocab(withAddedTokens: boolean): ReadonlyMap<string, number>
  get_added_tokens_decoder(): ReadonlyMap<number, { readonly content: string; readonly id: number; readonly special: boolean }>
}

// What `decode` shows for an id the tokenizer does not have, as the byte tokenizer does.
const replacementCharacter = "\uFFFD"

// Undefined when there is no such file: tokenizer_config.json is optional, since a
// tokenizer.json alone is a complete tokenizer.
const readIfPresent = (path: string): Effect.Effect<Uint8Array | undefined, TokenizerLoadError> =>
  Effect.tryPromise({ try: () => readFile(path), catch: (cause) => cause }).pipe(
    Effect.catch((cause) =>
      (cause as NodeJS.ErrnoException).code === "ENOENT"
        ? Effect.succeed(undefined)
        : Effect.fail(new TokenizerLoadError({ path, message: `cannot read tokenizer file ${path}: ${messageOf(cause)}`, cause }))
    )
  )

const readRequired = (path: string): Effect.Effect<Uint8Array, TokenizerLoadError> =>
  Effect.flatMap(readIfPresent(path), (bytes) =>
    bytes === undefined
      ? Effect.fail(new TokenizerLoadError({ path, message: `tokenizer file ${path} does not exist` }))
      : Effect.succeed(bytes))

// The library takes objects: a file holding JSON `null` or an array is as unusable as bad JSON.
const parseObject = (path: string, bytes: Uint8Array): Effect.Effect<object, TokenizerLoadError> =>
  Effect.try({
    try: () => JSON.parse(new TextDecoder().decode(bytes)) as unknown,
    catch: (cause) => new TokenizerLoadError({ path, message: `tokenizer file ${path} is not valid JSON: ${messageOf(cause)}`, cause })
  }).pipe(
    Effect.filterOrFail(
      (value): value is object => typeof value === "object" && value !== null && !Array.isArray(value),
      () => new TokenizerLoadError({ path, message: `tokenizer file ${path} does not hold a JSON object` })
    )
  )

// Both files go into the id: tokenizer_config.json can change how text is split and cleaned
// (remove_space, lowercasing, spaces on decode). A NUL byte cannot occur in JSON text, so
// the two parts cannot be confused.
const tokenizerId = (tokenizerJson: Uint8Array, configJson: Uint8Array | undefined): string => {
  const hash = createHash("sha256").update(tokenizerJson)
  if (configJson !== undefined) hash.update(new Uint8Array([0])).update(configJson)
  return `hf:${hash.digest("hex").slice(0, 16)}`
}

const wrap = (hf: HfTokenizerApi, path: string, id: string, config: { readonly clean_up_tokenization_spaces?: unknown }): Tokenizer["Service"] => {
  // One past the largest id: holes in a vocabulary still take rows in the model's embedding.
  let vocabSize = 0
  for (const tokenId of hf.get_vocab(true).values()) vocabSize = Math.max(vocabSize, tokenId + 1)
  const specialTokens = Object.fromEntries(
    [...hf.get_added_tokens_decoder().values()].filter((token) => token.special).map((token) => [token.content, token.id])
  )
  // transformers no longer cleans spaces (" ." to ".") unless a tokenizer asks for it; the
  // library still does by default, which breaks decode(encode(text)) == text.
  const decodeOptions = { clean_up_tokenization_spaces: config.clean_up_tokenization_spaces === true }
  const known = (tokenId: number) => Number.isInteger(tokenId) && hf.id_to_token(tokenId) !== undefined

  const encode = (text: string): ReadonlyArray<number> => {
    const { ids } = hf.encode(text, { add_special_tokens: false })
    // A piece with no id and no unk_token to stand for it would reach the model as `undefined`.
    if (!ids.every((tokenId): tokenId is number => tokenId !== undefined)) {
      const shown = text.length > 60 ? `${text.slice(0, 60)}...` : text
      throw new RangeError(`tokenizer ${path} has no id for a piece of ${JSON.stringify(shown)} and no unk_token to use instead`)
    }
    return ids
  }

  const decode = (tokens: ReadonlyArray<number>): string => {
    // The library throws on an empty list and drops unknown ids silently; runs of known ids
    // are decoded whole (so bytes of one character join up) and an unknown id shows as U+FFFD.
    let text = ""
    let run: Array<number> = []
    const flush = () => {
      if (run.length > 0) text += hf.decode(run, decodeOptions)
      run = []
    }
    for (const tokenId of tokens) {
      if (known(tokenId)) {
        run.push(tokenId)
        continue
      }
      flush()
      text += replacementCharacter
    }
    flush()
    return text
  }

  return Tokenizer.of({ id, vocabSize, specialTokens, encode, decode })
}

/**
 * A tokenizer from a Hugging Face `tokenizer.json` on local disk (never the network), with
 * the `tokenizer_config.json` beside it when there is one, through `@huggingface/tokenizers`.
 *
 * - `encode` adds no special tokens of its own (no BOS, no template): sous's renderers place
 *   them. Text that spells an added token (`<|im_end|>`) becomes that token's id, as with
 *   the library and Hugging Face's own tokenizers, so, unlike the byte tokenizer, data can
 *   hold special tokens. Characters the vocabulary cannot spell become `unk_token`, byte
 *   tokens with `byte_fallback`, or are dropped by a BPE model with neither; a piece left
 *   without any id throws a `RangeError` rather than reach the model.
 * - `decode` keeps special tokens as their text and cleans spaces only when
 *   tokenizer_config.json sets `clean_up_tokenization_spaces`; unknown ids become U+FFFD.
 * - `specialTokens` are the added tokens marked special, by content; `vocabSize` is one past
 *   the largest id, added tokens included.
 * - `id` is `hf:` and the first 16 hex digits of the SHA-256 of tokenizer.json (and of
 *   tokenizer_config.json after a NUL byte, when it exists), so checkpoints tell a changed
 *   tokenizer apart.
 *
 * Fails with a {@link TokenizerLoadError} naming the file when a file cannot be read, is not
 * a JSON object, or describes a tokenizer the library cannot build.
 */
export const makeHfTokenizer = Effect.fn("HfTokenizer.make")(function*(path: string) {
  const configPath = join(dirname(path), "tokenizer_config.json")
  const tokenizerBytes = yield* readRequired(path)
  const configBytes = yield* readIfPresent(configPath)
  const tokenizerJson = yield* parseObject(path, tokenizerBytes)
  const config: { readonly clean_up_tokenization_spaces?: unknown } = configBytes === undefined ? {} : yield* parseObject(configPath, configBytes)
  const hf = yield* Effect.try({
    try: (): HfTokenizerApi => new HfTokenizer(tokenizerJson, config),
    catch: (cause) => new TokenizerLoadError({ path, message: `cannot load tokenizer ${path}: ${messageOf(cause)}`, cause })
  })
  return wrap(hf, path, tokenizerId(tokenizerBytes, configBytes), config)
})
