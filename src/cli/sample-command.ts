/**
 * `sous sample <model-dir|run-dir|checkpoint-dir> --prompt TEXT [--chat] [--max-tokens N]
 * [--temperature T] [--seed N] [--json]`: one completion of a prompt, printed as text or,
 * with `--json`, with each token's id, text and log-probability.
 */
import { Effect, References } from "effect"
import { loadSampleModel, sampleBackendLayer, type SampleModel } from "../kitchen/sample-model.js"
import type { SampledSequence } from "../ports/index.js"
import { type ParsedArgs, UsageError } from "./args.js"
import type { CliError } from "./cli-error.js"

/** How many tokens a completion may have unless `--max-tokens` says otherwise. */
export const defaultMaxTokens = 64

/** The settings of one `sous sample` command line, checked. */
interface SampleSettings {
  readonly path: string
  readonly prompt: string
  readonly chat: boolean
  readonly json: boolean
  readonly maxTokens: number
  readonly temperature: number
  readonly seed: number
}

const usage = (message: string) => new UsageError({ message })

// A whole number the way people write one: digits, no exponent, no fraction.
const integerOption = (args: ParsedArgs, name: string, fallback: number, least: number): number => {
  const text = args.sample[name]
  if (text === undefined) return fallback
  const parsed = Number(text)
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(parsed) || parsed < least) {
    throw usage(`--${name} must be an integer >= ${least}, got ${JSON.stringify(text)}`)
  }
  return parsed
}

const temperatureOf = (args: ParsedArgs): number => {
  const text = args.sample["temperature"]
  if (text === undefined) return 0
  const parsed = Number(text)
  if (text.trim() === "" || !Number.isFinite(parsed) || parsed < 0) throw usage(`--temperature must be a number >= 0, got ${JSON.stringify(text)}`)
  return parsed
}

/** Reads and checks the command line; throws a {@link UsageError} for a bad one, before anything loads. */
const sampleSettings = (args: ParsedArgs): SampleSettings => {
  if (args.positionals.length === 0) throw usage("sous sample needs a model directory, run directory or checkpoint directory")
  if (args.positionals.length > 1) throw usage(`sous sample takes one model, got ${args.positionals.length}: ${args.positionals.join(" ")}`)
  const prompt = args.sample["prompt"]
  if (prompt === undefined) throw usage("sous sample needs --prompt TEXT")
  return {
    path: args.positionals[0]!,
    prompt,
    chat: args.given.includes("chat"),
    json: args.given.includes("json"),
    maxTokens: integerOption(args, "max-tokens", defaultMaxTokens, 1),
    temperature: temperatureOf(args),
    seed: integerOption(args, "seed", 0, 0)
  }
}

/** What `--json` prints. */
export interface SampleJson {
  readonly prompt: string
  readonly completion: string
  readonly tokens: ReadonlyArray<{ readonly id: number; readonly text: string; readonly logprob: number }>
  readonly stop_reason: "stop" | "length"
}

// The completion's text leaves out the token that stopped it (the EOS, the end of the turn),
// as transformers' decoding with skip_special_tokens does; `tokens` keeps it.
const sampleJson = (settings: SampleSettings, model: SampleModel, sequence: SampledSequence): SampleJson => {
  const shown = sequence.stop_reason === "stop" ? sequence.tokens.slice(0, -1) : sequence.tokens
  return {
    prompt: settings.prompt,
    completion: model.tokenizer.decode(shown),
    tokens: sequence.tokens.map((id, index) => ({ id, text: model.tokenizer.decode([id]), logprob: sequence.logprobs?.[index] ?? Number.NaN })),
    stop_reason: sequence.stop_reason
  }
}

/**
 * The `sous sample` command: loads the model (see `loadSampleModel`), samples one completion
 * greedily at temperature 0 (the default) or at `--temperature` with `--seed`, stopping at
 * the model's EOS or after `--max-tokens`, and prints it.
 */
export const sampleCommand = (args: ParsedArgs): Effect.Effect<void, CliError> => {
  const settings = sampleSettings(args)
  return Effect.scoped(Effect.gen(function*() {
    const model = yield* loadSampleModel(settings.path, settings)
    const pending = yield* model.client.sample({ chunks: [{ type: "encoded_text", tokens: model.promptTokens }] }, 1, {
      temperature: settings.temperature,
      top_k: -1,
      top_p: 1,
      max_tokens: settings.maxTokens,
      seed: settings.seed,
      stop: model.stopTokens
    })
    const response = yield* pending.result
    const result = sampleJson(settings, model, response.sequences[0]!)
    yield* Effect.sync(() => process.stdout.write(settings.json ? `${JSON.stringify(result)}\n` : `${result.completion}\n`))
  })).pipe(
    Effect.provide(sampleBackendLayer()),
    // Stdout is the completion (or its JSON, for a pipe): the backend's notes stay out of it
    // unless --verbose asks for them.
    args.verbose ? (program) => program : Effect.provideService(References.MinimumLogLevel, "Warn")
  )
}
