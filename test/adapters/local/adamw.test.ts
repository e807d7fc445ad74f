import { assert, describe, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { adamWStep, globalNorm, initAdamW } from "../../../src/adapters/local/adamw.js"
import { initTfRuntime } from "../../../src/adapters/local/tf-runtime.js"
import { adamParams } from "../../../src/ports/index.js"
import { maxAbsDiff } from "./fixtures.js"

// This file runs on the plain JavaScript backend (the wasm one is covered elsewhere).
const cpu = initTfRuntime("cpu")

/** torch.optim.AdamW for one parameter vector, in float64. */
const handAdamW = (
  p: Array<number>,
  gradients: ReadonlyArray<ReadonlyArray<number>>,
  h: { lr: number; beta1: number; beta2: number; eps: number; wd: number }
): Array<number> => {
  const m = p.map(() => 0)
  const v = p.map(() => 0)
  gradients.forEach((g, index) => {
    const t = index + 1
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! * (1 - h.lr * h.wd)
      m[i] = h.beta1 * m[i]! + (1 - h.beta1) * g[i]!
      v[i] = h.beta2 * v[i]! + (1 - h.beta2) * g[i]! ** 2
      const mHat = m[i]! / (1 - h.beta1 ** t)
      const vHat = v[i]! / (1 - h.beta2 ** t)
      p[i] = p[i]! - h.lr * mHat / (Math.sqrt(vHat) + h.eps)
    }
  })
  return p
}

const runAdamW = (start: ReadonlyArray<number>, gradients: ReadonlyArray<ReadonlyArray<number>>, adam: ReturnType<typeof adamParams>) => {
  const variables = new Map([["p", tf.variable(tf.tensor1d([...start]))]])
  const state = initAdamW(variables)
  const results = gradients.map((g) => {
    return adamWStep(variables, new Map([["p", Float32Array.from(g)]]), state, adam)
  })
  const out = {
    p: Array.from(variables.get("p")!.dataSync()),
    m: Array.from(state.m.get("p")!),
    step: state.step,
    results
  }
  variables.get("p")!.dispose()
  return out
}

describe("AdamW", () => {
  it.effect("matches torch's AdamW computed by hand over three steps, weight decay included", () =>
    Effect.gen(function*() {
      yield* cpu
      const h = { lr: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, wd: 0.1 }
      const start = [1, -2, 0.5, 3]
      const gradients = [[0.5, -0.25, 0, 2], [0.1, 0.3, -0.2, 2], [-0.4, 0.05, 0.6, -1]]
      const adam = adamParams({ learning_rate: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weight_decay: h.wd })
      const tfjs = runAdamW(start, gradients, adam)
      const expected = handAdamW([...start], gradients, h)
      assert.strictEqual(tfjs.step, 3)
      assert.isBelow(maxAbsDiff(tfjs.p, expected), 1e-6)
      // The first step of Adam moves each weight by about lr·sign(g): check one by hand.
      const oneStep = runAdamW([1], [[0.5]], adam)
      assert.closeTo(oneStep.p[0]!, 1 * (1 - 0.1 * 0.1) - 0.1 * 0.5 / (0.5 + 1e-8), 1e-7)
    }))

  it.effect("clips gradients to the global norm, reporting the norm before clipping", () =>
    Effect.gen(function*() {
      yield* cpu
      const gradients = [[3, 4]]
      const clipped = runAdamW([0, 0], gradients, adamParams({ grad_clip_norm: 1 }))
      assert.closeTo(clipped.results[0]!.gradNorm, 5, 1e-6)
      assert.closeTo(clipped.results[0]!.clipScale, 1 / (5 + 1e-6), 1e-9)
      // m = (1 − β1)·g after one step, with g scaled down to norm 1: (0.1·0.6, 0.1·0.8).
      assert.isBelow(maxAbsDiff(clipped.m, [0.06, 0.08]), 1e-6)

      const loose = runAdamW([0, 0], gradients, adamParams({ grad_clip_norm: 10 }))
      assert.strictEqual(loose.results[0]!.clipScale, 1)
      assert.isBelow(maxAbsDiff(loose.m, [0.3, 0.4]), 1e-6)
      const off = runAdamW([0, 0], gradients, adamParams({ grad_clip_norm: 0 }))
      assert.strictEqual(off.results[0]!.clipScale, 1)
    }))

  it.effect("steps several parameters at once, each as if alone", () =>
    Effect.gen(function*() {
      yield* cpu
      const h = { lr: 0.05, beta1: 0.9, beta2: 0.99, eps: 1e-8, wd: 0.01 }
      const adam = adamParams({ learning_rate: h.lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, weight_decay: h.wd })
      const starts = { big: [1, -2, 0.5, 3, 0.25], small: [0.5, -1], idle: [2, -3] }
      const gradients = { big: [[0.5, -0.25, 0, 2, 1], [0.1, 0.3, -0.2, 2, -1]], small: [[1, -1], [0.5, 0.5]] }
      const variables = new Map(Object.entries(starts).map(([name, start]) => [name, tf.variable(tf.tensor1d(start))]))
      const state = initAdamW(variables)
      for (const step of [0, 1]) {
        const grads = new Map([
          ["big", Float32Array.from(gradients.big[step]!)],
          ["small", Float32Array.from(gradients.small[step]!)],
          ["idle", new Float32Array(2)]
        ])
        adamWStep(variables, grads, state, adam)
      }
      const got = (name: string) => Array.from(variables.get(name)!.dataSync())
      // The large parameter goes first: the smaller ones' values must not land in its tensor.
      assert.isBelow(maxAbsDiff(got("big"), handAdamW([...starts.big], gradients.big, h)), 1e-6)
      assert.isBelow(maxAbsDiff(got("small"), handAdamW([...starts.small], gradients.small, h)), 1e-6)
      assert.isBelow(maxAbsDiff(got("idle"), handAdamW([...starts.idle], [[0, 0], [0, 0]], h)), 1e-6)
      // Weight decay alone moved it: a zero gradient leaves the moments at zero.
      assert.deepStrictEqual(Array.from(state.m.get("idle")!), [0, 0])
      assert.notDeepEqual(got("idle"), starts.idle)
      tf.dispose([...variables.values()])
    }))

  it.effect("gives, on parameters longer than the kernel's chunk and of odd length, the bits of the float64 formula stored in float32", () =>
    Effect.gen(function*() {
      yield* cpu
      const adam = adamParams({ learning_rate: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-6, weight_decay: 0.1, grad_clip_norm: 1 })
      for (const size of [1, 8191, 8192, 8193, 2 * 8192 + 3]) {
        const random = (seed: number) => Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 1e3 + i * 12.9898) * 3)
        const start = random(1)
        const variables = new Map([["p", tf.variable(tf.tensor1d(start))]])
        const state = initAdamW(variables)
        const m = random(2).map((x) => x * 0.1)
        const v = random(3).map((x) => x * x)
        state.m.get("p")!.set(m)
        state.v.get("p")!.set(v)
        const g = random(4)
        const { clipScale } = adamWStep(variables, new Map([["p", g]]), state, adam)
        // The formula, in the order of the doc comment of kernels/adamw.wat, in JavaScript numbers.
        const expected = new Float32Array(size)
        const stepSize = 0.01 / (1 - 0.8)
        const correction = Math.sqrt(1 - 0.95)
        for (let i = 0; i < size; i++) {
          const gi = g[i]! * clipScale
          m[i] = 0.8 * m[i]! + (1 - 0.8) * gi
          v[i] = 0.95 * v[i]! + (1 - 0.95) * gi * gi
          expected[i] = start[i]! * (1 - 0.01 * 0.1) - stepSize * m[i]! / (Math.sqrt(v[i]!) / correction + 1e-6)
        }
        assert.deepStrictEqual(state.m.get("p"), m)
        assert.deepStrictEqual(state.v.get("p"), v)
        assert.deepStrictEqual(variables.get("p")!.dataSync() as Float32Array, expected)
        variables.get("p")!.dispose()
      }
    }))

  it.effect("reports the global gradient norm with the bits of a sum of squares in order, clipped or not", () =>
    Effect.gen(function*() {
      yield* cpu
      // A parameter of a whole chunk, then one of odd length (the kernel's scratch past its end
      // still holds the first one's values), then one over two chunks.
      const sizes = { a: 8192, b: 3, c: 2 * 8192 + 5 }
      const values = (seed: number, size: number) => Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 7.1 + i * 0.37) * (1 + (i % 13)))
      for (const grad_clip_norm of [0, 1]) {
        const variables = new Map(Object.entries(sizes).map(([name, size], k) => [name, tf.variable(tf.tensor1d(values(k, size)))]))
        const grads = new Map(Object.entries(sizes).map(([name, size], k) => [name, values(k + 10, size)]))
        const { gradNorm } = adamWStep(variables, grads, initAdamW(variables), adamParams({ grad_clip_norm }))
        assert.strictEqual(gradNorm, globalNorm([...grads.values()]))
        tf.dispose([...variables.values()])
      }
    }))
})
