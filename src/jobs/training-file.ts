/**
 * Fine-tuning files: checked line by line when uploaded (so a bad row is refused with its
 * line number before any job uses it), and turned into the dataset rows sous's recipes read
 * when a job starts. Three row shapes are taken, one per file:
 * - conversations, `{"messages": [...]}` (OpenAI's supervised format and sous's own);
 * - OpenAI's preference pairs, `{"input": {"messages": [...]}, "preferred_output": [...],
 *   "non_preferred_output": [...]}`;
 * - sous's preference pairs, `{"prompt": [...], "chosen": [...], "rejected": [...]}`.
 */
import { Result, Schema } from "effect"
import { ChatMessage, ChatRow, formatSchemaProblems, schemaProblems } from "../ports/index.js"
import { PreferenceReply, PreferenceRow } from "../stages/index.js"
import type { FileFormat } from "./jobs-store.js"

type Shape = "chat" | "openaiPreference" | "sousPreference"

const OpenAiPreferenceRow = Schema.Struct({
  input: Schema.Struct({ messages: Schema.Array(ChatMessage).check(Schema.isMinLength(1)) }),
  preferred_output: PreferenceReply,
  non_preferred_output: PreferenceReply
})

const checker = <A, I>(schema: Schema.Codec<A, I>) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (row: unknown) => Result.map(decode(row, { errors: "all" }), () => undefined)
}

const shapes: Record<Shape, { readonly format: FileFormat; readonly check: ReturnType<typeof checker> }> = {
  chat: { format: "chat", check: checker(ChatRow) },
  openaiPreference: { format: "preference", check: checker(OpenAiPreferenceRow) },
  sousPreference: { format: "preference", check: checker(PreferenceRow) }
}


/** The shape a row claims by its keys. */
const shapeOf = (row: unknown): Shape | undefined =>
  typeof row !== "object" || row === null || Array.isArray(row)
    ? undefined
    : "messages" in row
    ? "chat"
    : "input" in row
    ? "openaiPreference"
    : "prompt" in row
    ? "sousPreference"
    : undefined

/** What an upload holds, once every line passed. */
export interface CheckedFile {
  readonly format: FileFormat
  /** Rows (non-blank lines). */
  readonly rows: number
}

/** Every problem of a file, up to this many, is reported at once. */
const maxProblems = 5

const lines = (text: string): Array<string> => text.replace(/^\uFEFF/, "").split(/\r?\n/)

/**
 * Checks a fine-tuning file: JSON on every non-blank line, one row shape throughout, each
 * row valid. Resolves with the format and row count, or the problems as `line N: ...` texts.
 */
export const checkTrainingFile = (text: string): { readonly ok: CheckedFile } | { readonly problems: ReadonlyArray<string> } => {
  const problems: Array<string> = []
  let shape: Shape | undefined
  let rows = 0
  for (const [index, line] of lines(text).entries()) {
    if (problems.length >= maxProblems) break
    if (line.trim() === "") continue
    const at = `line ${index + 1}`
    let json: unknown
    try {
      json = JSON.parse(line)
    } catch (error) {
      problems.push(`${at}: not valid JSON (${error instanceof SyntaxError ? error.message : String(error)})`)
      continue
    }
    rows++
    const claimed = shapeOf(json)
    if (claimed === undefined) {
      problems.push(`${at}: expected an object with "messages" (a conversation), "input", "preferred_output" and "non_preferred_output", or "prompt", "chosen" and "rejected" (a preference pair)`)
      continue
    }
    shape ??= claimed
    if (shapes[claimed].format !== shapes[shape].format) {
      problems.push(`${at}: a ${shapes[claimed].format} row in a file of ${shapes[shape].format} rows`)
      continue
    }
    const decoded = shapes[claimed].check(json)
    if (Result.isFailure(decoded)) problems.push(`${at}: ${formatSchemaProblems(schemaProblems(decoded.failure, json))}`)
  }
  if (problems.length > 0) return { problems }
  if (shape === undefined) return { problems: ["the file has no rows"] }
  return { ok: { format: shapes[shape].format, rows } }
}

/**
 * The file's rows as the JSONL a recipe of its format reads: conversations as they are,
 * preference pairs in sous's shape. Only for a file {@link checkTrainingFile} passed.
 */
export const datasetJsonl = (text: string): string =>
  lines(text)
    .filter((line) => line.trim() !== "")
    .map((line) => {
      const row = JSON.parse(line) as Record<string, unknown>
      if (shapeOf(row) !== "openaiPreference") return line
      const input = row["input"] as { messages: unknown }
      return JSON.stringify({ prompt: input.messages, chosen: row["preferred_output"], rejected: row["non_preferred_output"] })
    })
    .join("\n") + "\n"
