import * as tf from "@tensorflow/tfjs"
import { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { fastTanh } from "./fast-tanh.js"
import { activationsWasm } from "./kernels/activations-wasm.js"
import { heapKernels, heapOffset } from "./wasm-heap.js"

// Small models spend most of a step in per-kernel overhead (about 8 µs a kernel on wasm under
// Node), not arithmetic: a layer norm written with tfjs ops runs about 10 kernels forward and
// 20 backward, a tanh GELU 9 forward. These kernels do each in one pass over the tensors'
// memory (the wasm heap read in place, or the cpu backend's arrays): layer norm in JavaScript,
// in float64, rounded once where a value is stored; GELU in float32 SIMD on wasm
// (kernels/gelu.wat), in JavaScript elsewhere. They are registered for the `wasm` and `cpu`
// backends; on any other backend (tfjs-node) the ops below fall back to the tfjs formulas.

const layerNormKernel = "SousLayerNorm"
const layerNormGradKernel = "SousLayerNormGrad"
const geluKernel = "SousGelu"
const geluGradKernel = "SousGeluGrad"
const targetLogprobsKernel = "SousTargetLogprobs"
const targetLogprobsGradKernel = "SousTargetLogprobsGrad"
const gatherRowsKernel = "SousGatherRows"
const gatherRowsGradKernel = "SousGatherRowsGrad"
const fusedBackends = ["wasm", "cpu"] as const

/** What these kernels use of the cpu backend, which keeps each tensor's values as one array. */
interface CpuBackend {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues
  makeTensorInfo(shape: Array<number>, dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo
}

/** On wasm, the backend and the byte offsets in its heap of a kernel's inputs and outputs (scratch last). */
interface HeapTensors {
  readonly backend: BackendWasm
  readonly inputs: ReadonlyArray<number>
  readonly outputs: ReadonlyArray<number>
}

/**
 * Runs `compute` over the values of `inputs` (float32 or int32 arrays) and float32 arrays of
 * fresh outputs of `outputShapes`, then of `scratch` arrays of those lengths, which are freed
 * after. On wasm the arrays are views of the heap, made after every output is allocated (an
 * allocation may move the heap), and `heap` locates the tensors for a WebAssembly kernel; on
 * cpu the inputs are the backend's own arrays.
 */
const runOnArrays = (
  backend: unknown,
  inputs: ReadonlyArray<tf.TensorInfo>,
  outputShapes: ReadonlyArray<ReadonlyArray<number>>,
  compute: (ins: ReadonlyArray<Float32Array>, outs: ReadonlyArray<Float32Array>, heap?: HeapTensors) => void,
  scratch: ReadonlyArray<number> = []
): Array<tf.TensorInfo> => {
  if (backend instanceof BackendWasm) {
    const outs = [...outputShapes, ...scratch.map((length) => [length])].map((shape) => backend.makeOutput([...shape], "float32"))
    compute(
      inputs.map((t) => backend.typedArrayFromHeap(t) as Float32Array),
      outs.map((t) => backend.typedArrayFromHeap(t) as Float32Array),
      {
        backend,
        inputs: inputs.map((t) => heapOffset(backend, t.dataId)),
        outputs: outs.map((t) => heapOffset(backend, t.dataId))
      }
    )
    for (const t of outs.splice(outputShapes.length)) backend.disposeData(t.dataId, true)
    return outs
  }
  const cpu = backend as CpuBackend
  const outs = [...outputShapes.map((shape) => tf.util.sizeFromShape([...shape])), ...scratch].map((size) => new Float32Array(size))
  compute(inputs.map((t) => cpu.readSync(t.dataId) as Float32Array), outs)
  return outputShapes.map((shape, i) => cpu.makeTensorInfo([...shape], "float32", outs[i]!))
}

/** Mean and 1/√(variance + eps) of `width` values of `x` from `offset` (two passes, float64). */
const rowStats = (x: Float32Array, offset: number, width: number, eps: number): readonly [number, number] => {
  let sum = 0
  for (let j = 0; j < width; j++) sum += x[offset + j]!
  const mean = sum / width
  let squares = 0
  for (let j = 0; j < width; j++) {
    const centred = x[offset + j]! - mean
    squares += centred * centred
  }
  return [mean, 1 / Math.sqrt(squares / width + eps)]
}

const layerNormForward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta } = inputs as Record<"x" | "gamma" | "beta", tf.TensorInfo>
  const eps = attrs!["eps"] as number
  const width = x.shape[x.shape.length - 1]!
  return runOnArrays(backend, [x, gamma, beta], [x.shape], ([xs, g, b], [y]) => {
    for (let offset = 0; offset < xs!.length; offset += width) {
      const [mean, rstd] = rowStats(xs!, offset, width, eps)
      for (let j = 0; j < width; j++) y![offset + j] = (xs![offset + j]! - mean) * rstd * g![j]! + b![j]!
    }
  })[0]!
}

// With x̂ = (x − mean)·rstd and g = dy·γ, the input gradient of a row is
// rstd · (g − mean(g) − x̂ · mean(g·x̂)); γ's gradient sums dy·x̂ over rows and β's sums dy.
const layerNormBackward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, dy } = inputs as Record<"x" | "gamma" | "dy", tf.TensorInfo>
  const eps = attrs!["eps"] as number
  const width = x.shape[x.shape.length - 1]!
  return runOnArrays(backend, [x, gamma, dy], [x.shape, [width], [width]], ([xs, g, dys], [dx, dg, db]) => {
    const gammaSums = new Float64Array(width)
    const betaSums = new Float64Array(width)
    for (let offset = 0; offset < xs!.length; offset += width) {
      const [mean, rstd] = rowStats(xs!, offset, width, eps)
      let sumG = 0
      let sumGx = 0
      for (let j = 0; j < width; j++) {
        const d = dys![offset + j]!
        const normed = (xs![offset + j]! - mean) * rstd
        const scaled = d * g![j]!
        sumG += scaled
        sumGx += scaled * normed
        gammaSums[j] += d * normed
        betaSums[j] += d
      }
      const meanG = sumG / width
      const meanGx = sumGx / width
      for (let j = 0; j < width; j++) {
        const normed = (xs![offset + j]! - mean) * rstd
        dx![offset + j] = rstd * (dys![offset + j]! * g![j]! - meanG - normed * meanGx)
      }
    }
    dg!.set(gammaSums)
    db!.set(betaSums)
  })
}

const geluScale = Math.sqrt(2 / Math.PI)
const geluCubic = 0.044715

interface ActivationExports {
  readonly geluForward: (x: number, y: number, count: number) => void
  readonly geluBackward: (x: number, dy: number, dx: number, count: number) => void
  readonly softmaxParts: (z: number, rows: number, width: number, maxOut: number, sumOut: number) => void
  readonly scaledSoftmax: (z: number, scale: number, out: number, rows: number, width: number) => void
}

/** On wasm, kernels/activations.wat (SIMD, float32); GELU there runs the elements in whole vectors of 4. */
const activationsOn = heapKernels<ActivationExports>(activationsWasm)

/** Where the JavaScript loop starts: after the elements SIMD takes on wasm, at 0 elsewhere. */
const afterVectors = (count: number, heap: HeapTensors | undefined): number => (heap === undefined ? 0 : count - (count % 4))

const geluTanh = (x: number): number => fastTanh(geluScale * (x + geluCubic * x * x * x))

// The gradient computes tanh u again rather than have the forward kernel output it: tfjs
// fills the gradient of an output nothing uses with zeros, which cost more.
const geluForward: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as Record<"x", tf.TensorInfo>
  return runOnArrays(backend, [x], [x.shape], ([xs], [y], heap) => {
    const from = afterVectors(xs!.length, heap)
    if (heap !== undefined) activationsOn(heap.backend).geluForward(heap.inputs[0]!, heap.outputs[0]!, from)
    for (let i = from; i < xs!.length; i++) y![i] = 0.5 * xs![i]! * (1 + geluTanh(xs![i]!))
  })[0]!
}

// dy/dx = (1 + tanh u)/2 + x/2 · (1 − tanh² u) · c·(1 + 3·0.044715·x²), u = c·(x + 0.044715·x³).
const geluBackward: tf.KernelFunc = ({ inputs, backend }) => {
  const { x, dy } = inputs as Record<"x" | "dy", tf.TensorInfo>
  return runOnArrays(backend, [x, dy], [x.shape], ([xs, dys], [dx], heap) => {
    const from = afterVectors(xs!.length, heap)
    if (heap !== undefined) activationsOn(heap.backend).geluBackward(heap.inputs[0]!, heap.inputs[1]!, heap.outputs[0]!, from)
    for (let i = from; i < xs!.length; i++) {
      const v = xs![i]!
      const t = geluTanh(v)
      dx![i] = dys![i]! * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * geluScale * (1 + 3 * geluCubic * v * v))
    }
  })[0]!
}

// log p(target) of each row of logits: z[t] − max − log Σ exp(z − max). Its gradient for a
// row is dy · (onehot(t) − softmax(z)).
const targetLogprobsForward: tf.KernelFunc = ({ inputs, backend }) => {
  const { logits, targets } = inputs as Record<"logits" | "targets", tf.TensorInfo>
  const width = logits.shape[logits.shape.length - 1]!
  const rows = tf.util.sizeFromShape(targets.shape)
  return runOnArrays(backend, [logits, targets], [targets.shape], ([z, ids], [out, maxes, sums], heap) => {
    if (heap !== undefined) activationsOn(heap.backend).softmaxParts(heap.inputs[0]!, rows, width, heap.outputs[1]!, heap.outputs[2]!)
    for (let r = 0; r < rows; r++) {
      const offset = r * width
      if (heap === undefined) {
        let max = -Infinity
        for (let j = 0; j < width; j++) max = Math.max(max, z![offset + j]!)
        let sum = 0
        for (let j = 0; j < width; j++) sum += Math.exp(z![offset + j]! - max)
        maxes![r] = max
        sums![r] = sum
      }
      out![r] = z![offset + ids![r]!]! - maxes![r]! - Math.log(sums![r]!)
    }
  }, [rows, rows])[0]!
}

const targetLogprobsBackward: tf.KernelFunc = ({ inputs, backend }) => {
  const { logits, targets, dy } = inputs as Record<"logits" | "targets" | "dy", tf.TensorInfo>
  const width = logits.shape[logits.shape.length - 1]!
  const rows = tf.util.sizeFromShape(targets.shape)
  return runOnArrays(backend, [logits, targets, dy], [logits.shape], ([z, ids, dys], [dz, scales], heap) => {
    for (let r = 0; r < rows; r++) scales![r] = -dys![r]!
    if (heap !== undefined) activationsOn(heap.backend).scaledSoftmax(heap.inputs[0]!, heap.outputs[1]!, heap.outputs[0]!, rows, width)
    for (let r = 0; r < rows; r++) {
      const offset = r * width
      if (heap === undefined) {
        let max = -Infinity
        for (let j = 0; j < width; j++) max = Math.max(max, z![offset + j]!)
        let sum = 0
        for (let j = 0; j < width; j++) sum += Math.exp(z![offset + j]! - max)
        for (let j = 0; j < width; j++) dz![offset + j] = scales![r]! * Math.exp(z![offset + j]! - max) / sum
      }
      dz![offset + ids![r]!] += dys![r]!
    }
  }, [rows])[0]!
}

/** The id at `index`, checked against the `rows` a table has (a bad id would read or write outside it). */
const rowId = (ids: ArrayLike<number>, index: number, rows: number): number => {
  const id = ids[index]!
  if (!(id >= 0 && id < rows)) throw new Error(`row id ${id} is outside a table of ${rows} rows`)
  return id
}

// Rows `ids` of a table. tfjs-wasm's Gather took about 1.3 ms for 704 rows of 64, and it has
// no kernel for gather's gradient (sous used a one-hot product, a [vocab, rows] × [rows,
// width] matmul); here each is a copy or an add of whole rows.
const gatherRowsForward: tf.KernelFunc = ({ inputs, backend }) => {
  const { table, ids } = inputs as Record<"table" | "ids", tf.TensorInfo>
  const [rows, width] = table.shape as [number, number]
  return runOnArrays(backend, [table, ids], [[ids.shape[0]!, width]], ([values, indices], [out]) => {
    for (let i = 0; i < indices!.length; i++) {
      const from = rowId(indices!, i, rows) * width
      out!.set(values!.subarray(from, from + width), i * width)
    }
  })[0]!
}

// The table's gradient: each row of dy added into the row its id names, in order.
const gatherRowsBackward: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { ids, dy } = inputs as Record<"ids" | "dy", tf.TensorInfo>
  const rows = attrs!["rows"] as number
  const width = dy.shape[1]!
  return runOnArrays(backend, [ids, dy], [[rows, width]], ([indices, dys], [dTable]) => {
    dTable!.fill(0)
    for (let i = 0; i < indices!.length; i++) {
      const to = rowId(indices!, i, rows) * width
      for (let j = 0; j < width; j++) dTable![to + j] += dys![i * width + j]!
    }
  })[0]!
}

for (const backendName of fusedBackends) {
  tf.registerKernel({ kernelName: layerNormKernel, backendName, kernelFunc: layerNormForward })
  tf.registerKernel({ kernelName: layerNormGradKernel, backendName, kernelFunc: layerNormBackward })
  tf.registerKernel({ kernelName: geluKernel, backendName, kernelFunc: geluForward })
  tf.registerKernel({ kernelName: geluGradKernel, backendName, kernelFunc: geluBackward })
  tf.registerKernel({ kernelName: targetLogprobsKernel, backendName, kernelFunc: targetLogprobsForward })
  tf.registerKernel({ kernelName: targetLogprobsGradKernel, backendName, kernelFunc: targetLogprobsBackward })
  tf.registerKernel({ kernelName: gatherRowsKernel, backendName, kernelFunc: gatherRowsForward })
  tf.registerKernel({ kernelName: gatherRowsGradKernel, backendName, kernelFunc: gatherRowsBackward })
}

tf.registerGradient({
  kernelName: layerNormKernel,
  inputsToSave: ["x", "gamma"],
  gradFunc: (dy, saved, attrs) => {
    const [x, gamma] = saved as [tf.Tensor, tf.Tensor]
    // One kernel makes all three gradients, here rather than in the functions below: the engine
    // runs each of those in its own tidy scope, which would free the other two. One that no
    // input asks for (a frozen gamma) is freed with the backward pass's scope.
    const [dx, dgamma, dbeta] = tf.engine().runKernel(
      layerNormGradKernel,
      { x, gamma, dy: dy as tf.Tensor },
      attrs as tf.NamedAttrMap
    ) as Array<tf.Tensor>
    return { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! }
  }
})

tf.registerGradient({
  kernelName: geluKernel,
  inputsToSave: ["x"],
  gradFunc: (dy, saved) => ({
    x: () => tf.engine().runKernel(geluGradKernel, { x: saved[0]!, dy: dy as tf.Tensor }) as tf.Tensor
  })
})

tf.registerGradient({
  kernelName: targetLogprobsKernel,
  inputsToSave: ["logits", "targets"],
  gradFunc: (dy, saved) => {
    const [logits, targets] = saved as [tf.Tensor, tf.Tensor]
    return {
      logits: () => tf.engine().runKernel(targetLogprobsGradKernel, { logits, targets, dy: dy as tf.Tensor }) as tf.Tensor,
      // Token ids have no gradient; the engine asks only for the logits'.
      targets: () => tf.zerosLike(targets)
    }
  }
})

tf.registerGradient({
  kernelName: gatherRowsKernel,
  inputsToSave: ["table", "ids"],
  gradFunc: (dy, saved) => {
    const [table, ids] = saved as [tf.Tensor, tf.Tensor]
    return {
      table: () => tf.engine().runKernel(gatherRowsGradKernel, { ids, dy: dy as tf.Tensor }, { rows: table.shape[0]! }) as tf.Tensor,
      ids: () => tf.zerosLike(ids)
    }
  }
})

const fused = (kernelName: string): boolean => tf.getKernel(kernelName, tf.getBackend()) !== undefined

/** LayerNorm over the last axis with `gamma` and `beta` [width] (biased variance, as torch). */
export const layerNorm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor => {
  if (fused(layerNormKernel)) return tf.engine().runKernel(layerNormKernel, { x, gamma, beta }, { eps }) as tf.Tensor
  const { mean, variance } = tf.moments(x, -1, true)
  return x.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(gamma).add(beta)
}

/** GELU, tanh approximation (GPT-2's): y = x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export const gelu = (x: tf.Tensor): tf.Tensor => {
  if (fused(geluKernel)) return tf.engine().runKernel(geluKernel, { x }) as tf.Tensor
  return x.mul(tf.tanh(x.add(x.pow(3).mul(geluCubic)).mul(geluScale)).add(1)).mul(0.5)
}

/**
 * log p(target) [...rows] under logits [...rows, classes] (log-softmax over the last axis),
 * for int32 `targets` [...rows] below `classes`. One kernel each way on wasm and cpu; on other
 * backends a one-hot mask (tfjs has no gradient for gather there).
 */
export const targetLogprobs = <R extends tf.Rank>(logits: tf.Tensor, targets: tf.Tensor<R>): tf.Tensor<R> => {
  if (fused(targetLogprobsKernel)) return tf.engine().runKernel(targetLogprobsKernel, { logits, targets }) as tf.Tensor<R>
  const mask = tf.oneHot(targets, logits.shape[logits.shape.length - 1]!).toFloat()
  return tf.logSoftmax(logits).mul(mask).sum(-1)
}

/** Rows `ids` of `table` ([n] int32 → [n, width]), the table's gradient added row by row. */
export const embedRows = (table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D =>
  fused(gatherRowsKernel)
    ? tf.engine().runKernel(gatherRowsKernel, { table, ids }) as tf.Tensor2D
    : tf.gather(table, ids)
