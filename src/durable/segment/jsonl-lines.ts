/** Reading the JSONL files a run and its attempts write (`metrics.jsonl`, `events.jsonl`). */
import { readFile } from "node:fs/promises"

/** A complete line of a JSONL file: its text and the object it holds. */
export interface JsonlLine {
  readonly text: string
  readonly value: Readonly<Record<string, unknown>>
}

/**
 * The complete lines of a JSONL file, in order; none when the file does not exist. A last
 * line without its newline (a process killed while writing it) is not complete, and neither
 * is a line that is not a JSON object.
 */
export const readJsonlLines = async (file: string): Promise<Array<JsonlLine>> => {
  const text = await readFile(file, "utf8").catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return ""
    throw error
  })
  return text.split("\n").slice(0, -1).flatMap((line) => {
    try {
      const value: unknown = JSON.parse(line)
      return typeof value === "object" && value !== null && !Array.isArray(value)
        ? [{ text: line, value: value as Record<string, unknown> }]
        : []
    } catch {
      return []
    }
  })
}

/** The `step` of a line, or undefined when it has none. */
export const stepOf = (line: JsonlLine): number | undefined =>
  typeof line.value["step"] === "number" ? line.value["step"] : undefined

/** The lines as file content, one per line. */
export const joinLines = (lines: ReadonlyArray<JsonlLine>): string => lines.map((line) => `${line.text}\n`).join("")
