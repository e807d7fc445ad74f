import * as tf from "@tensorflow/tfjs"
import { BackendWasm } from "@tensorflow/tfjs-backend-wasm"
import { heapOffset } from "./wasm-heap.js"

// Small models spend most of a step in per-kernel overhead (about 8 µs a kernel on wasm under
// Node), not arithmetic: a layer norm written with tfjs ops runs about 10 kernels forward and
// 20 backward, a tanh GELU 9 forward. sous's own kernels (layer-norm.ts, activation-kernels.ts,
// gather-rows.ts) do each in one pass over the tensors' memory, the wasm heap read in place or
// the cpu backend's arrays, registered for those two backends; on any other backend
// (tfjs-node) their ops fall back to tfjs formulas.

const arrayBackends = ["wasm", "cpu"] as const

/** What these kernels use of the cpu backend, which keeps each tensor's values as one array. */
interface CpuBackend {
  readSync(dataId: tf.DataId): tf.backend_util.BackendValues
  makeTensorInfo(shape: Array<number>, dtype: tf.DataType, values: tf.backend_util.BackendValues): tf.TensorInfo
}

/** On wasm, the backend and the byte offsets in its heap of a kernel's inputs and outputs (scratch last). */
export interface HeapTensors {
  readonly backend: BackendWasm
  readonly inputs: ReadonlyArray<number>
  readonly outputs: ReadonlyArray<number>
}

/**
 * Runs `compute` over the values of `inputs` (float32 or int32 arrays) and float32 arrays of
 * fresh outputs of `outputShapes`, then of `scratch` arrays of those lengths, which are freed
 * after (all of them, if `compute` throws). On wasm the arrays are views of the heap, made
 * after every allocation (one may move the heap), and `heap` locates the tensors for a
 * WebAssembly kernel; on cpu the inputs are the backend's own arrays.
 */
export const runOnArrays = (
  backend: unknown,
  inputs: ReadonlyArray<tf.TensorInfo>,
  outputShapes: ReadonlyArray<ReadonlyArray<number>>,
  compute: (ins: ReadonlyArray<Float32Array>, outs: ReadonlyArray<Float32Array>, heap?: HeapTensors) => void,
  scratch: ReadonlyArray<number> = []
): Array<tf.TensorInfo> => {
  if (backend instanceof BackendWasm) {
    // Inputs first: locating one that still lives on another backend moves it into the heap,
    // which may grow it. Views come last, once nothing allocates.
    const inputOffsets = inputs.map((t) => heapOffset(backend, t.dataId))
    const outs = [...outputShapes, ...scratch.map((length) => [length])].map((shape) => backend.makeOutput([...shape], "float32"))
    try {
      compute(
        inputs.map((t) => backend.typedArrayFromHeap(t) as Float32Array),
        outs.map((t) => backend.typedArrayFromHeap(t) as Float32Array),
        { backend, inputs: inputOffsets, outputs: outs.map((t) => heapOffset(backend, t.dataId)) }
      )
    } catch (error) {
      for (const t of outs) backend.disposeData(t.dataId, true)
      throw error
    }
    for (const t of outs.splice(outputShapes.length)) backend.disposeData(t.dataId, true)
    return outs
  }
  const cpu = backend as CpuBackend
  const outs = [...outputShapes.map((shape) => tf.util.sizeFromShape([...shape])), ...scratch].map((size) => new Float32Array(size))
  compute(inputs.map((t) => cpu.readSync(t.dataId) as Float32Array), outs)
  return outputShapes.map((shape, i) => cpu.makeTensorInfo([...shape], "float32", outs[i]!))
}

/** Registers kernels that run on arrays (see {@link runOnArrays}) for the wasm and cpu backends. */
export const registerArrayKernels = (kernels: Readonly<Record<string, tf.KernelFunc>>): void => {
  for (const backendName of arrayBackends) {
    for (const [kernelName, kernelFunc] of Object.entries(kernels)) tf.registerKernel({ kernelName, backendName, kernelFunc })
  }
}

/** Whether the current backend has `kernelName` (else its op falls back to tfjs formulas). */
export const hasKernel = (kernelName: string): boolean => tf.getKernel(kernelName, tf.getBackend()) !== undefined
