import { writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { readBaseModels } from "../../src/cli/base-models-file.js"
import { fromInts, type SamplingParams } from "../../src/ports/index.js"
import { awaitResult, connect, serveLocal, testApiKey } from "../adapters/tinker/served-backend.js"
import { root } from "../cli/run-cli.js"
import { tempDirectory } from "../support/temp-directory.js"
import { sequenceDatum } from "./fixtures.js"

// `sous serve` over a base model given as a Hugging Face directory (the tiny Llama fixture:
// 2 layers, hidden 32, 4 query and 2 key/value heads of 8, MLP 64, vocab 96, EOS id 2, an
// lm_head of its own), driven through sous's own Tinker client as a remote run drives it.
const llama = join(root, "test/fixtures/hf/llama")

// Two sequences that end in the model's EOS (2), so that sampling after training stops there.
const eos = 2
const batch = [sequenceDatum([5, 6, 7, 8, 9, eos]), sequenceDatum([40, 41, 42, 43, eos])]
const targets = 5 + 4
const greedy: SamplingParams = { max_tokens: 8, temperature: 0, top_k: -1, top_p: 1, seed: 1 }

describe("sous serve: a Hugging Face base model from --base-models", () => {
  it.live("lists it, LoRA-trains it through the protocol, saves it and samples up to its EOS", () =>
    Effect.gen(function*() {
      // The base-models file as a user writes it, the directory relative to the file.
      const home = yield* tempDirectory("serve-hf")
      const file = join(home, "models.json")
      writeFileSync(file, JSON.stringify({ "tiny-llama": { hf: relative(home, llama) } }))
      const { server } = yield* serveLocal({ baseModels: readBaseModels(file) })

      const capabilities = yield* Effect.promise(() =>
        fetch(`${server.url}/api/v1/get_server_capabilities`, { headers: { "x-api-key": testApiKey } }).then((answer) => answer.json() as Promise<{ supported_models: unknown }>)
      )
      assert.deepStrictEqual(capabilities.supported_models, [{ model_name: "tiny-llama", max_context_length: 64 }])

      // No architecture is sent: the server builds its base model, as for the Python SDK.
      const tinker = yield* connect(server)
      // train_attn alone adapts q, k, v and o: rank × (in + out) weights each, in 2 layers.
      const attnOnly = yield* tinker.createTrainingClient({
        baseModel: "tiny-llama",
        seed: 0,
        lora: { rank: 8, trainAttn: true, trainMlp: false, trainUnembed: false }
      })
      assert.strictEqual((yield* attnOnly.info).parameterCount, 2 * 8 * ((32 + 32) + (32 + 16) + (32 + 16) + (32 + 32)))
      // The default adds gate, up and down in each layer, and lm_head (the model's own).
      const client = yield* tinker.createTrainingClient({ baseModel: "tiny-llama", seed: 0, lora: { rank: 8 } })
      assert.strictEqual((yield* client.info).parameterCount, 2 * 8 * (224 + 3 * (32 + 64)) + 8 * (32 + 96))

      const losses: Array<number> = []
      for (let step = 0; step < 16; step++) {
        const output = yield* awaitResult(client.forwardBackward(batch, "cross_entropy"))
        losses.push(output.metrics["loss:sum"]! / targets)
        yield* awaitResult(client.optimStep({ learning_rate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0, grad_clip_norm: 1 }))
      }
      // 5.4 per token untrained, about 0.001 after 16 steps here (wasm); a tenth leaves room for other devices.
      assert.isBelow(losses.at(-1)!, losses[0]! / 10, losses.map((loss) => loss.toFixed(3)).join(" "))

      const saved = yield* awaitResult(client.saveState("lora"))
      assert.match(saved._tag === "Remote" ? saved.path : "", /^tinker:\/\/.+\/weights\/lora$/)
      const sampler = yield* tinker.createSamplingClient(yield* awaitResult(client.saveWeightsForSampler("sampler")))
      // Without `stop` the sample ends at the model's EOS (generation_config.json), kept as its last token.
      const [stopped] = (yield* awaitResult(sampler.sample(fromInts([5, 6, 7]), 1, greedy))).sequences
      assert.deepStrictEqual({ tokens: stopped!.tokens, reason: stopped!.stop_reason }, { tokens: [8, 9, eos], reason: "stop" })
      // `stop: []` turns that off, as in Tinker: it runs to max_tokens.
      const [unstopped] = (yield* awaitResult(sampler.sample(fromInts([5, 6, 7]), 1, { ...greedy, stop: [] }))).sequences
      assert.deepStrictEqual({ head: unstopped!.tokens.slice(0, 3), length: unstopped!.tokens.length, reason: unstopped!.stop_reason }, {
        head: [8, 9, eos],
        length: 8,
        reason: "length"
      })
    }).pipe(Effect.scoped), 60_000)
})
