import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger, Option } from "effect"
import { OtlpTelemetry } from "../../../src/adapters/telemetry/otlp-telemetry.js"
import { withRecipeTelemetry } from "../../../src/kitchen/otlp-telemetry.js"
import { loadRecipe } from "../../../src/recipes/index.js"
import type { TrackerSection } from "../../../src/recipes/recipe-sections.js"
import { sftRecipe } from "../../support/short-sft.js"

// What `withRecipeTelemetry` makes of a recipe's trackers, without a run: whether the effect
// inside gets an OTLP export, and what is logged. Nothing listens on port 4318 here, and
// nothing is sent: no span or metric is made.
const setUp = (trackers: ReadonlyArray<TrackerSection>) =>
  Effect.gen(function*() {
    const recipe = yield* loadRecipe(sftRecipe, [])
    const warnings: Array<string> = []
    const capture = Logger.make(({ message }) => {
      warnings.push((Array.isArray(message) ? message : [message]).map(String).join(" "))
    })
    const telemetry = yield* withRecipeTelemetry({ ...recipe, trackers }, Effect.serviceOption(OtlpTelemetry)).pipe(
      Effect.provide(Logger.layer([capture]))
    )
    return { exported: Option.isSome(telemetry), warnings }
  })

const otlp = (more: Partial<Extract<TrackerSection, { kind: "otlp" }>> = {}): TrackerSection => ({
  kind: "otlp",
  endpoint: "http://127.0.0.1:4318",
  serviceName: "sous",
  ...more
})

describe("withRecipeTelemetry", () => {
  it.live("exports when the recipe names an otlp tracker, and only then", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* setUp([]), { exported: false, warnings: [] })
      // An unset headersEnv is no headers, as an unset MLflow tokenEnv is no token.
      assert.deepStrictEqual(yield* setUp([otlp({ headersEnv: "SOUS_TEST_UNSET_VARIABLE" })]), { exported: true, warnings: [] })
    }))

  it.live("leaves out, with one warning, a tracker it cannot start, and never quotes a secret", () =>
    Effect.gen(function*() {
      process.env["SOUS_TEST_OTLP_BAD_HEADERS"] = "x-token-s3cret"
      const badHeaders = yield* setUp([otlp({ headersEnv: "SOUS_TEST_OTLP_BAD_HEADERS" })]).pipe(
        Effect.ensuring(Effect.sync(() => delete process.env["SOUS_TEST_OTLP_BAD_HEADERS"]))
      )
      assert.deepStrictEqual(badHeaders, {
        exported: false,
        warnings: [
          "otlp tracker at http://127.0.0.1:4318 cannot start: trackers[0].headersEnv: SOUS_TEST_OTLP_BAD_HEADERS holds no " +
          "key=value,key2=value2 list: entry 1 is not of the form key=value; the run goes on without it"
        ]
      })
      const withPassword = yield* setUp([otlp({ endpoint: "http://me:pa55word@127.0.0.1:4318" })])
      assert.isFalse(withPassword.exported)
      assert.strictEqual(withPassword.warnings.length, 1)
      assert.match(withPassword.warnings[0]!, /^otlp tracker at http:\/\/127\.0\.0\.1:4318 cannot start: trackers\[0\]\.endpoint holds a user or password/)
      assert.notInclude(withPassword.warnings[0]!, "pa55word")
    }))

  it.live("exports to the first of two otlp trackers and says the second is left out", () =>
    Effect.gen(function*() {
      const twice = yield* setUp([{ kind: "tensorboard" }, otlp(), otlp({ endpoint: "http://127.0.0.1:4319" })])
      assert.deepStrictEqual(twice, {
        exported: true,
        warnings: [
          "otlp tracker at http://127.0.0.1:4319 (trackers[2]) is left out: a run exports to one otlp tracker, trackers[1]; " +
          "the run goes on without it"
        ]
      })
    }))
})
