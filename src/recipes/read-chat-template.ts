import { readFile } from "node:fs/promises"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { messageOf } from "../ports/thrown-message.js"
import { RecipeError } from "./recipe-error.js"
import type { ChatTemplate } from "../stages/rendering/index.js"

const problem = (source: string, message: string, cause?: unknown) =>
  new RecipeError({ source, problems: [{ path: "renderer.chatTemplate", message }], cause })

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

// tokenizer_config.json writes a token as its text or as an AddedToken object `{ content }`.
const tokenText = (value: unknown): string | undefined =>
  typeof value === "string" ? value : isRecord(value) && typeof value["content"] === "string" ? value["content"] : undefined

// `chat_template` is one template, or a list of named ones of which "default" is the chat one.
const templateText = (value: unknown): string | undefined => {
  if (typeof value === "string") return value
  if (!Array.isArray(value)) return undefined
  const named = value.find((entry) => isRecord(entry) && entry["name"] === "default")
  return isRecord(named) && typeof named["template"] === "string" ? named["template"] : undefined
}

/**
 * The chat template of the `tokenizer_config.json` at `file`, in the shape the recipe schema
 * decodes: `{ source, template, bosToken?, eosToken? }`, `source` being `file`. Errors are
 * at `renderer.chatTemplate` of `source` (the recipe) and name the file.
 */
export const readChatTemplateFile = (file: string, source: string): Effect.Effect<ChatTemplate, RecipeError> =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({
      try: () => readFile(file, "utf8"),
      catch: (cause) => problem(source, `cannot read ${file}: ${messageOf(cause)}`, cause)
    })
    const config = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: (cause) => problem(source, `${file} is not JSON: ${messageOf(cause)}`, cause)
    })
    const template = isRecord(config) ? templateText(config["chat_template"]) : undefined
    if (!isRecord(config) || template === undefined) {
      return yield* problem(source, `${file} has no chat_template (a string, or a list with one named "default")`)
    }
    const bosToken = tokenText(config["bos_token"])
    const eosToken = tokenText(config["eos_token"])
    return {
      source: file,
      template,
      ...(bosToken === undefined ? {} : { bosToken }),
      ...(eosToken === undefined ? {} : { eosToken })
    }
  })

/**
 * Reads the chat template a parsed recipe points at: when `renderer.chatTemplate` is a path
 * (relative to `baseDir`, the recipe's directory) or a `file://` URI, it is replaced with what the
 * `tokenizer_config.json` there holds (see {@link readChatTemplateFile}). Anything else is
 * left for the schema to judge, so a resolved recipe, which holds the template already, loads
 * as it is. Errors name the file.
 */
export const readChatTemplate = (input: unknown, baseDir: string, source: string): Effect.Effect<unknown, RecipeError> =>
  Effect.gen(function*() {
    if (!isRecord(input)) return input
    const renderer = input["renderer"]
    if (!isRecord(renderer) || typeof renderer["chatTemplate"] !== "string") return input
    const location = renderer["chatTemplate"]
    // An absolute path stays as it is; a relative one is relative to the recipe.
    const file = location.startsWith("file://") ? fileURLToPath(location) : resolve(baseDir, location)
    const chatTemplate = yield* readChatTemplateFile(file, source)
    return { ...input, renderer: { ...renderer, chatTemplate } }
  })
