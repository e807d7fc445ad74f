import { Result } from "effect"

// An HTTP header name (RFC 9110 token).
const headerName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/**
 * Reads extra OTLP request headers written as `OTEL_EXPORTER_OTLP_HEADERS` is:
 * `key=value,key2=value2`, each value percent-decoded (`Authorization=Bearer%20abc`), blanks
 * around keys and values and empty entries ignored. The problem, on failure, names the entry
 * by position and quotes header names only: a value may be a token, and must never reach a
 * message.
 */
export const parseOtlpHeaders = (text: string): Result.Result<Record<string, string>, string> => {
  const headers: Record<string, string> = {}
  for (const [index, entry] of text.split(",").entries()) {
    if (entry.trim() === "") continue
    const at = `entry ${index + 1}`
    const equals = entry.indexOf("=")
    if (equals < 0) return Result.fail(`${at} is not of the form key=value`)
    const key = entry.slice(0, equals).trim()
    if (!headerName.test(key)) return Result.fail(`${at} has no valid header name before its "="`)
    let value: string
    try {
      value = decodeURIComponent(entry.slice(equals + 1).trim())
    } catch {
      return Result.fail(`the value of header ${key} is not valid percent-encoding`)
    }
    // fetch refuses such a value, and only when the first export is sent.
    if (/[\0\r\n]/.test(value)) return Result.fail(`the value of header ${key} holds a control character`)
    headers[key.toLowerCase()] = value
  }
  return Result.succeed(headers)
}
