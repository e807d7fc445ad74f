import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { formatBytes, memoryProblems, runMemory } from "../../src/kitchen/memory-check.js"
import { decodeRecipe } from "../../src/recipes/decode-recipe.js"

const supervised = (extra: Record<string, unknown> = {}) =>
  Effect.runSync(decodeRecipe({ kind: "supervised", data: { train: "train.jsonl" }, ...extra }, "test"))
const gib = 1024 ** 3
const vocab = 256

describe("the memory a run needs", () => {
  it("counts the model's weights with AdamW's three more copies, and grows with the batch", () => {
    const small = runMemory(supervised(), vocab)
    // width 64, 2 layers, context 64: embeddings, 12d² + 12d per layer, final norm, unembedding.
    const parameters = vocab * 64 + 64 * 64 + 2 * (12 * 64 * 64 + 12 * 64) + 2 * 64 + 64 * vocab
    expect(small.parameters).toBe(parameters)
    expect(small.model).toBe(16 * parameters)
    const doubled = runMemory(supervised({ training: { batchSize: 32 } }), vocab)
    expect(doubled.trainStep).toBe(2 * small.trainStep)
    expect(doubled.model).toBe(small.model)
  })

  it("holds no model in this process for a remote backend, only the batches it sends", () => {
    const remote = runMemory(supervised({ backend: { kind: "tinker" } }), vocab)
    expect(remote.model).toBe(0)
    expect(remote.trainStep).toBe(16 * 65 * 12)
  })

  it("passes the usual sizes and names the field of sizes no machine holds", () => {
    expect(memoryProblems(supervised(), vocab, 4 * gib)).toEqual([])
    const [batch] = memoryProblems(supervised({ training: { batchSize: 1e12 } }), vocab, 4 * gib)
    expect(batch?.path).toBe("training.batchSize")
    expect(batch?.message).toMatch(/^1e12 rows × 65 tokens would need [\d.]+ PiB for one training step, more than the 4 GiB of memory this machine has$/)
    const [context] = memoryProblems(supervised({ model: { contextLength: 1e8 } }), vocab, 4 * gib)
    expect(context?.path).toBe("model.contextLength")
    const [width] = memoryProblems(supervised({ model: { width: 1048576 } }), vocab, 4 * gib)
    expect(width?.path).toBe("model.width")
    expect(width?.message).toContain("a transformer of width 1048576, 2 layers and context 64 (2.64e13 parameters")
  })

  it("writes bytes in binary units", () => {
    expect(formatBytes(512)).toBe("512 bytes")
    expect(formatBytes(1536)).toBe("1.5 KiB")
    expect(formatBytes(125 * gib)).toBe("125 GiB")
  })
})
