import { createHash } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit } from "effect"
import { makeHfTokenizer, type TokenizerLoadError } from "../../../src/adapters/tokenizers/hf-tokenizer.js"
import { tempDirectory } from "../../support/temp-directory.js"
import { tinyIds, tinyPlainAdded, tinySpecials, tinyTokenizerJson } from "./tiny-hf-tokenizer.js"

// A directory holding the tiny tokenizer.json (and `config` as tokenizer_config.json).
const tokenizerDir = (json: unknown = tinyTokenizerJson(), config?: unknown) =>
  Effect.gen(function*() {
    const dir = yield* tempDirectory("hf-tokenizer")
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json))
    if (config !== undefined) writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config))
    return dir
  })

const loadError = (path: string) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(makeHfTokenizer(path))
    const error = Exit.findErrorOption(exit)
    if (error._tag === "None") return assert.fail("expected the tokenizer to be refused")
    return error.value as TokenizerLoadError
  })

describe("Hugging Face tokenizer", () => {
  it.effect("round-trips text and uses the BPE merges", () =>
    Effect.gen(function*() {
      const tokenizer = yield* makeHfTokenizer(join(yield* tokenizerDir(), "tokenizer.json"))
      for (const text of ["User: 12+7=?\n\nAssistant: 19", " lead  two spaces, a dot .", "the theme", ""]) {
        assert.strictEqual(tokenizer.decode(tokenizer.encode(text)), text)
      }
      // " the" is one merged piece; "ab" stays two symbols.
      assert.deepStrictEqual(tokenizer.encode(" the"), [tinyIds.mergedThe])
      assert.strictEqual(tokenizer.encode("ab").length, 2)
    }).pipe(Effect.scoped))

  it.effect("adds no special tokens, but text spelling an added token becomes its id", () =>
    Effect.gen(function*() {
      const tokenizer = yield* makeHfTokenizer(join(yield* tokenizerDir(), "tokenizer.json"))
      // The post-processor would prepend <|bos|>: sous's renderers place special tokens.
      assert.notInclude(tokenizer.encode("hi"), tokenizer.specialTokens["<|bos|>"])
      const ids = tokenizer.encode("a<|im_end|>b")
      assert.deepStrictEqual(ids, [...tokenizer.encode("a"), tokenizer.specialTokens["<|im_end|>"]!, ...tokenizer.encode("b")])
      assert.strictEqual(tokenizer.decode(ids), "a<|im_end|>b")
    }).pipe(Effect.scoped))

  it.effect("lists the added tokens marked special by content, and counts every id in the vocabulary", () =>
    Effect.gen(function*() {
      const tokenizer = yield* makeHfTokenizer(join(yield* tokenizerDir(), "tokenizer.json"))
      assert.deepStrictEqual(
        tokenizer.specialTokens,
        Object.fromEntries(tinySpecials.map((content, index) => [content, tinyIds.firstSpecial + index]))
      )
      assert.notProperty(tokenizer.specialTokens, tinyPlainAdded)
      assert.deepStrictEqual(tokenizer.encode(tinyPlainAdded), [tinyIds.plainAdded])
      assert.strictEqual(tokenizer.vocabSize, tinyIds.vocabSize)
    }).pipe(Effect.scoped))

  it.effect("decodes an empty list to nothing and an unknown id to U+FFFD", () =>
    Effect.gen(function*() {
      const tokenizer = yield* makeHfTokenizer(join(yield* tokenizerDir(), "tokenizer.json"))
      assert.strictEqual(tokenizer.decode([]), "")
      const [h, i] = tokenizer.encode("hi")
      assert.strictEqual(tokenizer.decode([h!, tinyIds.vocabSize, i!, -1, 1.5]), "h\uFFFDi\uFFFD\uFFFD")
    }).pipe(Effect.scoped))

  it.effect("cleans spaces on decode only when tokenizer_config.json asks for it", () =>
    Effect.gen(function*() {
      const dir = yield* tokenizerDir(tinyTokenizerJson(), { clean_up_tokenization_spaces: true })
      const tokenizer = yield* makeHfTokenizer(join(dir, "tokenizer.json"))
      assert.strictEqual(tokenizer.decode(tokenizer.encode("end .")), "end.")
    }).pipe(Effect.scoped))

  it.effect("has an id from the SHA-256 of its files, so a changed tokenizer has another id", () =>
    Effect.gen(function*() {
      const dir = yield* tokenizerDir()
      const path = join(dir, "tokenizer.json")
      const first = yield* makeHfTokenizer(path)
      const digest = createHash("sha256").update(readFileSync(path)).digest("hex")
      assert.strictEqual(first.id, `hf:${digest.slice(0, 16)}`)
      assert.strictEqual((yield* makeHfTokenizer(path)).id, first.id)

      writeFileSync(path, JSON.stringify(tinyTokenizerJson({ extraMerge: ["a", "b"] })))
      const changed = yield* makeHfTokenizer(path)
      assert.notStrictEqual(changed.id, first.id)
      assert.match(changed.id, /^hf:[0-9a-f]{16}$/)

      writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ clean_up_tokenization_spaces: true }))
      assert.notStrictEqual((yield* makeHfTokenizer(path)).id, changed.id)
    }).pipe(Effect.scoped))

  it.effect("refuses text it has no id for rather than hand the model undefined", () =>
    Effect.gen(function*() {
      const json = {
        added_tokens: [],
        normalizer: null,
        pre_tokenizer: { type: "WhitespaceSplit" },
        post_processor: null,
        decoder: null,
        // WordPiece without an unk_token has nothing to put for an unknown word.
        model: { type: "WordPiece", vocab: { a: 0 }, continuing_subword_prefix: "##", max_input_chars_per_word: 100 }
      }
      const tokenizer = yield* makeHfTokenizer(join(yield* tokenizerDir(json), "tokenizer.json"))
      assert.deepStrictEqual(tokenizer.encode("a a"), [0, 0])
      assert.throws(() => tokenizer.encode("a b"), RangeError, /no id for a piece of "a b"/)
    }).pipe(Effect.scoped))

  it.effect("names the file when it is missing, not JSON, or not a tokenizer the library can load", () =>
    Effect.gen(function*() {
      const dir = yield* tempDirectory("hf-tokenizer")
      const path = join(dir, "tokenizer.json")

      const missing = yield* loadError(path)
      assert.strictEqual(missing._tag, "TokenizerLoadError")
      assert.strictEqual(missing.path, path)
      assert.strictEqual(missing.message, `tokenizer file ${path} does not exist`)

      writeFileSync(path, "{ not json")
      assert.include((yield* loadError(path)).message, `tokenizer file ${path} is not valid JSON`)

      writeFileSync(path, "[1, 2]")
      assert.strictEqual((yield* loadError(path)).message, `tokenizer file ${path} does not hold a JSON object`)

      writeFileSync(path, JSON.stringify({ ...tinyTokenizerJson(), model: { type: "NoSuchModel" } }))
      assert.strictEqual((yield* loadError(path)).message, `cannot load tokenizer ${path}: Unknown TokenizerModel type: NoSuchModel`)

      const configPath = join(dir, "tokenizer_config.json")
      writeFileSync(path, JSON.stringify(tinyTokenizerJson()))
      writeFileSync(configPath, "{ broken")
      const badConfig = yield* loadError(path)
      assert.strictEqual(badConfig.path, configPath)
      assert.include(badConfig.message, `tokenizer file ${configPath} is not valid JSON`)
    }).pipe(Effect.scoped))
})
