import * as tf from "@tensorflow/tfjs"
import { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { hasKernel } from "./array-kernels.js"
import { batchMatmulWasm } from "./kernels/batch-matmul-wasm.js"
import { heapKernels, heapOffset } from "./wasm-heap.js"

// tfjs-wasm multiplies with XNNPACK only one untransposed 2-D pair at a time; a batched or
// transposed product (attention's [batch, heads, t, t] ones, forward and backward) runs on its
// scalar loop at about 2.7 GFLOP/s. And XNNPACK first repacks the right operand, keeping the
// packed copy for the next product with the same tensor: in training every weight is a new
// tensor after each step, and repacking a [576, 1536] weight took 4 ms, eight times the
// product of 8 rows by it. sous's kernel (kernels/batch-matmul.wat, 128-bit SIMD) works on the
// backend's own heap (see wasm-heap.ts) and reads both operands where they lie; it hands
// XNNPACK only the products where reading in place loses (see `prefersXnnpack`). Both sum each
// element in the same order, so which one runs does not change a bit of the result.

const kernelName = "SousBatchMatMul"

interface KernelExports {
  readonly batchMatMul: (
    a: number, b: number, out: number,
    batch: number, m: number, k: number, n: number,
    aBatch: number, aRow: number, aCol: number, bBatch: number,
    bias: number, hasBias: number
  ) => void
}

const kernelOn = heapKernels<KernelExports>(batchMatmulWasm)

/**
 * Whether XNNPACK multiplies `[m, k] · [k, n]` faster than sous's kernel, as measured on a
 * 2-core AMD EPYC: for a right operand over 16 MiB (a 135M model's output layer, [576, 49152]:
 * 1.3 s against 2.0 s at 512 rows, packing included), and for fewer than four rows by one over
 * 256 KiB (a generation step of one sequence, which reuses XNNPACK's packed weight: 5 ms
 * against 28 ms by the output layer, 0.11 against 0.22 ms by [576, 1536]). Strided reads of a
 * wide operand, a page apart per row, are what the kernel loses on there.
 */
const prefersXnnpack = (m: number, k: number, n: number): boolean => k * n > 4_194_304 || (m < 4 && k * n > 65_536)

/** `a · b` (or `aᵀ · b`) for one pair, by tfjs-wasm's own kernel, which runs XNNPACK for an untransposed pair. */
const xnnpackProduct = (a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, backend: BackendWasm): tf.TensorInfo => {
  const kernel = (name: string) => tf.getKernel(name, "wasm")!.kernelFunc
  const product = (left: tf.TensorInfo) =>
    kernel(tf.BatchMatMul)({ inputs: { a: left, b }, backend, attrs: { transposeA: false, transposeB: false } }) as tf.TensorInfo
  if (!transposeA) return product(a)
  const perm = a.shape.map((_, axis) => axis)
  perm.push(...perm.splice(-2).reverse())
  const contiguous = kernel(tf.Transpose)({ inputs: { x: a }, backend, attrs: { perm } }) as tf.TensorInfo
  try {
    return product(contiguous)
  } finally {
    backend.disposeData(contiguous.dataId)
  }
}

const product: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo }
  const transposeA = attrs!["transposeA"] === true
  const rank = a.shape.length
  const lead = a.shape.slice(0, -2)
  const [rowsA, colsA] = a.shape.slice(-2) as [number, number]
  const [m, k] = transposeA ? [colsA, rowsA] : [rowsA, colsA]
  const [kB, n] = b.shape.slice(-2) as [number, number]
  if (rank < 2 || b.shape.length !== rank || b.shape.slice(0, -2).join() !== lead.join() || kB !== k) {
    throw new Error(`${kernelName}: cannot multiply [${a.shape.join(", ")}]${transposeA ? "ᵀ" : ""} by [${b.shape.join(", ")}]`)
  }
  if (bias !== undefined && bias.shape.join() !== String(n)) {
    throw new Error(`${kernelName}: a bias of [${bias.shape.join(", ")}] does not fit ${n} columns`)
  }
  const batch = tf.util.sizeFromShape(lead)
  if (bias === undefined && batch === 1 && prefersXnnpack(m, k, n)) return xnnpackProduct(a, b, transposeA, backend as BackendWasm)
  const out = (backend as BackendWasm).makeOutput([...lead, m, n], "float32")
  kernelOn(backend).batchMatMul(
    heapOffset(backend, a.dataId), heapOffset(backend, b.dataId), heapOffset(backend, out.dataId),
    batch, m, k, n,
    m * k, transposeA ? 1 : k, transposeA ? m : 1, k * n,
    bias === undefined ? 0 : heapOffset(backend, bias.dataId), bias === undefined ? 0 : 1
  )
  return out
}

tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc: product })

// With C = op(A)·B: for op(A) = A, dA = dC·Bᵀ and dB = Aᵀ·dC; for op(A) = Aᵀ (A stored
// [k, m]), dA = B·dCᵀ and dB = A·dC; a bias added to every row gets dC summed over the rows.
tf.registerGradient({
  kernelName,
  inputsToSave: ["a", "b"],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved as [tf.Tensor, tf.Tensor]
    const dc = dy as tf.Tensor
    const bias = () => dc.sum(dc.shape.slice(0, -1).map((_, axis) => axis))
    return attrs!["transposeA"] === true
      ? { a: () => batchMatMul(b, dc, false, true), b: () => batchMatMul(a, dc), bias }
      : { a: () => batchMatMul(dc, b, false, true), b: () => batchMatMul(a, dc, true), bias }
  }
})

/** `t` with its last two axes swapped, as a contiguous copy. */
const swapLastAxes = (t: tf.Tensor): tf.Tensor => {
  const axes = t.shape.map((_, axis) => axis)
  axes.push(...axes.splice(-2).reverse())
  return tf.transpose(t, axes)
}

/**
 * `op(a) · op(b)` over the leading (batch) axes of two tensors of the same rank ≥ 2, `op`
 * transposing the last two axes where asked, as `tf.matMul` (without broadcasting). On wasm
 * it runs {@link product}, `b` made contiguous first when transposed; elsewhere `tf.matMul`.
 */
export const batchMatMul = (a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor => {
  if (!hasKernel(kernelName)) return tf.matMul(a, b, transposeA, transposeB)
  if (!transposeB) return tf.engine().runKernel(kernelName, { a, b }, { transposeA }) as tf.Tensor
  // The contiguous copy is freed here (a gradient keeps its own reference to it).
  const contiguous = swapLastAxes(b)
  const product = tf.engine().runKernel(kernelName, { a, b: contiguous }, { transposeA }) as tf.Tensor
  contiguous.dispose()
  return product
}

/**
 * `a · w + bias` for 2-D `a` and `w` and a bias of `w`'s columns, as one product whose sums
 * start from the bias: on wasm {@link product} (or XNNPACK's fused product where it is faster,
 * which starts from the bias too: the same bits), elsewhere `tf.fused.matMul`.
 */
export const biasedProduct = (a: tf.Tensor2D, w: tf.Tensor2D, bias: tf.Tensor): tf.Tensor2D =>
  !hasKernel(kernelName) || prefersXnnpack(a.shape[0], a.shape[1], w.shape[1])
    ? tf.fused.matMul({ a, b: w, bias }) as tf.Tensor2D
    : tf.engine().runKernel(kernelName, { a, b: w, bias }, { transposeA: false }) as tf.Tensor2D
