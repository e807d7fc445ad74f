import { Cause, Layer, Logger, type LogLevel, References } from "effect"
import { type Level, pino } from "pino"
import pinoPretty from "pino-pretty"
import { isSecretKey, redactedValue, redactSecrets } from "./redact-secrets.js"

/** How the pino logger writes. */
export interface PinoLoggerOptions {
  /**
   * Least severe level that is logged. When given, the layer also sets Effect's
   * `References.MinimumLogLevel`, which filters before any logger runs; when left out,
   * whatever minimum is in force (Effect's default: `Info`) applies.
   */
  readonly minimumLevel?: LogLevel.LogLevel
  /** Where lines go. Default: stderr, written synchronously, so stdout stays clean for command output. */
  readonly destination?: NodeJS.WritableStream
  /** Human-readable lines through pino-pretty. Default: when the destination is a terminal. */
  readonly pretty?: boolean
}

const pinoLevels: Readonly<Record<LogLevel.LogLevel, Level | "silent">> = {
  All: "trace",
  Trace: "trace",
  Debug: "debug",
  Info: "info",
  Warn: "warn",
  Error: "error",
  Fatal: "fatal",
  None: "silent"
}

// Fields pino or this logger writes itself; an annotation of the same name is renamed,
// since a JSON line with a key twice is read differently by different tools.
const reservedFields = new Set(["level", "time", "msg", "pid", "hostname", "spans", "cause"])

const stderrFd = 2

const renderPart = (part: unknown): string => {
  if (typeof part === "string") return part
  // JSON.stringify shows an Error as `{}`; its name and message say more.
  if (part instanceof Error) return String(part)
  try {
    return JSON.stringify(redactSecrets(part)) ?? String(part)
  } catch {
    return String(part)
  }
}

const makeDestination = (options: PinoLoggerOptions) => {
  const terminal = (options.destination ?? process.stderr) as { readonly isTTY?: boolean }
  const pretty = options.pretty ?? terminal.isTTY === true
  if (pretty) {
    return pinoPretty({
      destination: options.destination ?? stderrFd,
      sync: true,
      colorize: terminal.isTTY === true,
      ignore: "pid,hostname"
    })
  }
  return options.destination ?? pino.destination({ fd: stderrFd, sync: true })
}

/**
 * An Effect logger that writes through pino: one JSON line per log entry, or pino-pretty
 * output in a terminal. Each line holds pino's `level`, the entry's `time` (from Effect's
 * clock), `msg` (the message parts joined by spaces; objects as JSON), every log
 * annotation as a field of its own, `spans` (label to elapsed milliseconds) and `cause`
 * (pretty-printed) when present. Fields with secret-looking names (`apiKey`, `token`,
 * `secret`, `password`, `authorization`, case-insensitive, also nested and as suffixes such
 * as `hfToken`) are written as `[redacted]`.
 */
export const makePinoLogger = (options: PinoLoggerOptions = {}): Logger.Logger<unknown, void> => {
  const logger = pino(
    { level: options.minimumLevel === undefined ? "trace" : pinoLevels[options.minimumLevel], timestamp: false },
    makeDestination(options)
  )

  return Logger.make(({ cause, date, fiber, logLevel, message }) => {
    const level = pinoLevels[logLevel]
    if (level === "silent") return
    const fields: Record<string, unknown> = { time: date.getTime() }
    for (const [key, value] of Object.entries(fiber.getRef(References.CurrentLogAnnotations))) {
      fields[reservedFields.has(key) ? `annotation.${key}` : key] = isSecretKey(key) ? redactedValue : redactSecrets(value)
    }
    const spans = fiber.getRef(References.CurrentLogSpans)
    if (spans.length > 0) {
      fields["spans"] = Object.fromEntries(spans.map(([label, start]) => [label, date.getTime() - start]))
    }
    if (cause.reasons.length > 0) fields["cause"] = Cause.pretty(cause)
    const parts: ReadonlyArray<unknown> = Array.isArray(message) ? message : [message]
    logger[level](fields, parts.map(renderPart).join(" "))
  })
}

/**
 * A layer that replaces Effect's default logger with {@link makePinoLogger}, and sets the
 * minimum log level when `options.minimumLevel` is given.
 */
export const pinoLoggerLayer = (options: PinoLoggerOptions = {}): Layer.Layer<never> => {
  const loggerLayer = Logger.layer([makePinoLogger(options)])
  return options.minimumLevel === undefined
    ? loggerLayer
    : Layer.merge(loggerLayer, Layer.succeed(References.MinimumLogLevel, options.minimumLevel))
}
