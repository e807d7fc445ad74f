import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, References } from "effect"
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { readHfModelDirectory } from "../../src/adapters/hf-model/model-directory.js"
import { decodeSafetensors, encodeSafetensors, type SafeTensor } from "../../src/adapters/hf-model/safetensors.js"
import { decodeHfArchitecture, type HfArchitecture, hfLogits, loadHfWeights } from "../../src/adapters/local/hf/index.js"
import { hfLoraTargets } from "../../src/adapters/local/hf/hf-lora-targets.js"
import { type LoraAdapters, loraWeights } from "../../src/adapters/local/lora.js"
import { disposeParameters, lookupIn, type WeightLookup } from "../../src/adapters/local/parameters.js"
import { decodeState, decodeStateTensors } from "../../src/adapters/local/state-codec.js"
import { initTfRuntime } from "../../src/adapters/local/tf-runtime.js"
import { parseArgs } from "../../src/cli/args.js"
import { exportCommand } from "../../src/cli/export-command.js"
import { exportRun } from "../../src/kitchen/export-run.js"
import { runRecipe } from "../../src/kitchen/index.js"
import { loadRecipe } from "../../src/recipes/load-recipe.js"
import { resolvedRecipeJson } from "../../src/recipes/recipe-hash.js"
import { tempDirectory } from "../support/temp-directory.js"
import { tinyCharTokenizerJson } from "../support/tiny-char-tokenizer.js"
import { hfSftRecipeYaml, sumConversations } from "../support/hf-sft-recipe.js"

// `sous export` of short LoRA runs on copies of the tiny Llama and GPT-2 fixtures: the merged
// Hugging Face directory computes the logits sous computed with the adapters, and the PEFT
// adapter, merged as PEFT merges it, gives the same weights. With SOUS_EXPORT_CHECK_DIR set,
// each run's base, exports and logits are also copied to <dir>/<fixture>/, for
// scripts/hf-fixtures/check-export.py (transformers and peft).
const fixtures = resolve(dirname(fileURLToPath(import.meta.url)), "../fixtures/hf")
const runtime = initTfRuntime("wasm")
const inputIds = [[1, 20, 31, 42, 53, 64, 75, 86, 9, 10, 11, 12], [1, 5, 6, 7, 8, 5, 6, 7, 8, 5, 6, 2]]

/** A finished run of a recipe on a copy of a fixture (the tiny char tokenizer beside it). */
const trainedRun = (lora: string, fixture = "llama") =>
  Effect.gen(function*() {
    const dir = yield* tempDirectory("export")
    cpSync(join(fixtures, fixture), join(dir, "model"), { recursive: true })
    writeFileSync(join(dir, "model", "tokenizer.json"), JSON.stringify(tinyCharTokenizerJson()))
    writeFileSync(join(dir, "train.jsonl"), sumConversations.join("\n") + "\n")
    writeFileSync(join(dir, "recipe.yaml"), hfSftRecipeYaml({ steps: 4, lr: 0.02, model: lora }))
    const recipe = yield* loadRecipe(join(dir, "recipe.yaml"))
    // As `sous run` starts it: recipe.json written into the run directory.
    yield* runRecipe(recipe, { runDir: join(dir, "run"), newRun: { resolvedRecipe: resolvedRecipeJson(recipe), overwrite: false } }).pipe(
      Effect.provideService(References.MinimumLogLevel, "Warn")
    )
    return dir
  })

/** Logits [2, 12, vocab] of {@link inputIds}, as plain numbers. */
const logitsOf = (arch: HfArchitecture, weight: WeightLookup): Array<Array<Array<number>>> =>
  tf.tidy(() => hfLogits(arch, weight, tf.tensor2d(inputIds, undefined, "int32")).arraySync())

const maxAbsDiff = (a: Array<Array<Array<number>>>, b: Array<Array<Array<number>>>) =>
  Math.max(...a.flat(2).map((value, i) => Math.abs(value - b.flat(2)[i]!)))

/** The model directory's weights, as the local backend loads them. */
const loadDirectory = (dir: string) =>
  Effect.gen(function*() {
    const directory = yield* readHfModelDirectory(dir)
    const arch = yield* decodeHfArchitecture(directory.config, join(dir, "config.json"))
    return { directory, arch, weights: yield* loadHfWeights(arch, directory.tensors, dir) }
  })

/** The decoded state of a run's `final` checkpoint. */
const finalState = (run: string) => {
  const store = join(run, "checkpoints")
  const manifest = JSON.parse(readFileSync(join(store, "final", "manifest.json"), "utf8")) as { state: { key: string } }
  return decodeState(readFileSync(join(store, manifest.state.key)))
}

/**
 * A LoRA run on each fixture: what it targets, and each adapted module of a layer with its
 * [in, out] widths. Llama's modules are Linear (weights [out, in]); GPT-2's are Conv1D (weights
 * [in, out]), which PEFT adapts with fan_in_fan_out. In and out differ where they can, so a
 * transposed A or B cannot pass.
 */
const loraRuns = [
  {
    fixture: "llama",
    targets: ["q_proj", "v_proj", "down_proj"],
    layers: "model.layers",
    modules: { "self_attn.q_proj": [32, 32], "self_attn.v_proj": [32, 16], "mlp.down_proj": [64, 32] },
    fanInFanOut: false,
    norm: "model.norm.weight"
  },
  {
    fixture: "gpt2",
    // GPT-2's c_proj is attention's output and the MLP's: the one name adapts both.
    targets: ["c_attn", "c_proj", "c_fc"],
    layers: "transformer.h",
    modules: { "attn.c_attn": [32, 96], "attn.c_proj": [32, 32], "mlp.c_fc": [32, 128], "mlp.c_proj": [128, 32] },
    fanInFanOut: true,
    norm: "transformer.ln_f.weight"
  }
] as const

/**
 * `weight` with a PEFT adapter merged in as PEFT merges it (LoraLayer.get_delta_weight):
 * `scaling · B·A`, [out, in], transposed to [in, out] when `fanInFanOut`; A is [r, in], B [out, r].
 */
const peftMerge = (weight: Float32Array, a: SafeTensor, b: SafeTensor, scaling: number, fanInFanOut: boolean): Float32Array => {
  const [rank, inWidth] = a.shape as [number, number]
  const outWidth = b.shape[0]!
  const merged = new Float32Array(weight)
  for (let o = 0; o < outWidth; o++) {
    for (let i = 0; i < inWidth; i++) {
      let update = 0
      for (let k = 0; k < rank; k++) update += b.values[o * rank + k]! * a.values[k * inWidth + i]!
      const at = fanInFanOut ? i * outWidth + o : o * inWidth + i
      merged[at] = merged[at]! + scaling * update
    }
  }
  return merged
}

describe("sous export", () => {
  for (const { fixture, targets, layers, modules, fanInFanOut, norm } of loraRuns) {
    it.live(`merges a ${fixture} LoRA run into a Hugging Face directory that gives sous's logits, and writes the PEFT adapter PEFT merges alike`, () =>
      Effect.gen(function*() {
        yield* runtime
        const dir = yield* trainedRun(`, lora: { rank: 4, alpha: 8, targets: [${targets.join(", ")}] }`, fixture)
        const run = join(dir, "run")
        const merged = join(dir, "merged")
        const peft = join(dir, "peft")
        const files = yield* exportRun({ source: run, out: merged, format: "hf" })
        assert.deepStrictEqual(files, ["model.safetensors", "config.json", "generation_config.json", "tokenizer.json"])
        assert.deepStrictEqual(yield* exportRun({ source: run, out: peft, format: "peft" }), ["adapter_model.safetensors", "adapter_config.json"])

        // sous's own forward pass of the trained model: the base weights under the adapters.
        const base = yield* loadDirectory(join(dir, "model"))
        const state = finalState(run)
        const adapters = decodeStateTensors(state)
        const lora: LoraAdapters = {
          names: Object.keys(adapters),
          variables: new Map(Object.entries(adapters).map(([name, tensor]) => [name.slice("lora/".length), tensor as tf.Variable])),
          settings: state.header.lora!,
          targets: hfLoraTargets(base.arch, state.header.lora!.modules!)
        }
        const ours = tf.tidy(() => logitsOf(base.arch, loraWeights(base.weights, lora)))
        const before = logitsOf(base.arch, lookupIn(base.weights))
        const exported = yield* loadDirectory(merged)
        const theirs = logitsOf(exported.arch, lookupIn(exported.weights))
        // The adapters moved the logits, and the merged weights move them the same way.
        assert.isAbove(maxAbsDiff(ours, before), 1e-3)
        assert.isBelow(maxAbsDiff(ours, theirs), 1e-5)
        assert.deepStrictEqual(exported.directory.files[0]!.metadata, { format: "pt" })

        // PEFT's layout: A [r, in] and B [out, r] under PEFT's names, for every adapted module of
        // both layers, and PEFT's merge of them gives the merged directory's weights.
        const adapter = yield* decodeSafetensors(readFileSync(join(peft, "adapter_model.safetensors")), "adapter")
        const expected = [0, 1].flatMap((layer) => Object.entries(modules).map(([module, widths]) => [`${layers}.${layer}.${module}`, widths] as const))
        assert.sameMembers([...adapter.tensors.keys()], expected.flatMap(([module]) => ["A", "B"].map((x) => `base_model.model.${module}.lora_${x}.weight`)))
        let worst = 0
        for (const [module, [inWidth, outWidth]] of expected) {
          const a = adapter.tensors.get(`base_model.model.${module}.lora_A.weight`)!
          const b = adapter.tensors.get(`base_model.model.${module}.lora_B.weight`)!
          assert.deepStrictEqual([a.dtype, a.shape, b.dtype, b.shape], ["F32", [4, inWidth], "F32", [outWidth, 4]], module)
          const w0 = base.directory.tensors.get(`${module}.weight`)!
          assert.deepStrictEqual(w0.shape, fanInFanOut ? [inWidth, outWidth] : [outWidth, inWidth], module)
          const w1 = exported.directory.tensors.get(`${module}.weight`)!.values
          const peftMerged = peftMerge(w0.values, a, b, 8 / 4, fanInFanOut)
          for (let i = 0; i < w1.length; i++) worst = Math.max(worst, Math.abs(peftMerged[i]! - w1[i]!))
        }
        assert.isBelow(worst, 1e-6)
        const config = JSON.parse(readFileSync(join(peft, "adapter_config.json"), "utf8"))
        assert.deepInclude(config, { peft_type: "LORA", task_type: "CAUSAL_LM", r: 4, lora_alpha: 8, bias: "none", fan_in_fan_out: fanInFanOut })
        assert.deepStrictEqual(config.target_modules, targets)
        assert.strictEqual(config.base_model_name_or_path, join(dir, "model"))

        const check = process.env["SOUS_EXPORT_CHECK_DIR"]
        if (check !== undefined) {
          const into = join(check, fixture)
          mkdirSync(into, { recursive: true })
          for (const [from, to] of [[join(dir, "model"), "base"], [merged, "merged"], [peft, "peft"]] as const) cpSync(from, join(into, to), { recursive: true })
          writeFileSync(join(into, "sous-logits.json"), JSON.stringify({ input_ids: inputIds, logits: ours }))
        }

        // Adapters are merged only into the weights they were trained on.
        const changed = new Map(base.directory.tensors)
        const weight = changed.get(norm)!
        changed.set(norm, { ...weight, values: weight.values.map((value) => value * 2) })
        writeFileSync(join(dir, "model", "model.safetensors"), encodeSafetensors(changed, { format: "pt" }))
        const stale = yield* Effect.flip(exportRun({ source: run, out: join(dir, "stale"), format: "hf" }))
        assert.include(stale.message, `its adapters were trained on other base weights than the model directory holds now (${join(dir, "model")})`)
        tf.dispose(Object.values(adapters))
        disposeParameters(base.weights)
        disposeParameters(exported.weights)
      }), 60_000)
  }

  it.live("exports a full run as it computes, and refuses its PEFT export and a directory that is not empty", () =>
    Effect.gen(function*() {
      yield* runtime
      const dir = yield* trainedRun("")
      const run = join(dir, "run")
      // A full run's weights, exported, compute what they computed in sous.
      yield* exportRun({ source: run, out: join(dir, "full"), format: "hf" })
      const trained = decodeStateTensors(finalState(run))
      const exported = yield* loadDirectory(join(dir, "full"))
      const ours = logitsOf(exported.arch, (name) => trained[`params/${name}`]!)
      assert.isBelow(maxAbsDiff(ours, logitsOf(exported.arch, lookupIn(exported.weights))), 1e-6)
      tf.dispose(Object.values(trained))
      disposeParameters(exported.weights)
      const refusal = yield* Effect.flip(exportRun({ source: join(run, "checkpoints", "final"), out: join(dir, "peft"), format: "peft" }))
      assert.match(refusal.message, /holds full weights, not LoRA adapters: export it with --format hf/)
      assert.isFalse(existsSync(join(dir, "peft")))
      const busy = yield* Effect.flip(exportRun({ source: run, out: join(dir, "model"), format: "hf" }))
      assert.strictEqual(busy.message, `${join(dir, "model")} is not empty; choose a new --out directory`)
      const notRun = yield* Effect.flip(exportRun({ source: dir, out: join(dir, "x"), format: "hf" }))
      assert.match(notRun.message, /is neither a run directory \(no recipe\.json\) nor a checkpoint directory/)
    }), 60_000)

  it("checks its command line before reading anything", () => {
    const usage = (argv: ReadonlyArray<string>) => {
      try {
        exportCommand(parseArgs(["export", ...argv]))
        return "accepted"
      } catch (error) {
        return (error as Error).message
      }
    }
    assert.strictEqual(usage(["run"]), "sous export needs --out <dir>")
    assert.strictEqual(usage(["--out", "x"]), "sous export needs one run or checkpoint directory")
    assert.strictEqual(usage(["run", "--out", "x", "--format", "gguf"]), "--format \"gguf\" is not one of hf, peft")
  })
})
