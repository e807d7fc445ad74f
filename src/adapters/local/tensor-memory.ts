import * as tf from "@tensorflow/tfjs"
import { BackendWasm } from "@tensorflow/tfjs-backend-wasm"

// Saving and loading a state moves every weight and moment between tensors and one byte
// array, tens of megabytes. Each extra copy into fresh memory costs as much as the disk write
// itself (page faults dominate), so these helpers reach the wasm backend's heap directly:
// `dataSync` would slice a copy out of it, and `decodeWeights` slices one more per tensor.

/** The backend that holds `tensor`'s values. */
const holderOf = (tensor: tf.Tensor): tf.KernelBackend | undefined =>
  tf.engine().state.tensorInfo.get(tensor.dataId)?.backend

/**
 * Hands `use` a float32 tensor's values without copying them where the backend allows: on
 * wasm they are read in place, elsewhere through `dataSync` (a copy on every backend but the
 * cpu one). The view is valid only during `use`, which must not run tensor operations (one
 * could grow and move the wasm heap) nor keep it.
 */
export const withFloat32Values = <A>(tensor: tf.Tensor, use: (values: Float32Array) => A): A => {
  const holder = holderOf(tensor)
  return use((holder instanceof BackendWasm ? holder.typedArrayFromHeap(tensor) : tensor.dataSync()) as Float32Array)
}

/**
 * A new float32 tensor of `shape` whose values `fill` writes: on wasm straight into the heap
 * (the view is valid only during `fill`, which may read other tensors through
 * {@link withFloat32Values} but must not run tensor operations), elsewhere into an array the
 * backend then keeps.
 */
export const filledFloat32Tensor = (shape: ReadonlyArray<number>, fill: (values: Float32Array) => void): tf.Tensor => {
  const backend = tf.backend()
  if (!(backend instanceof BackendWasm)) {
    const values = new Float32Array(tf.util.sizeFromShape([...shape]))
    fill(values)
    return tf.tensor(values, [...shape], "float32")
  }
  // Allocated before any view is taken: the allocation may grow, and so move, the heap.
  const info = backend.makeOutput([...shape], "float32")
  try {
    fill(backend.typedArrayFromHeap(info) as Float32Array)
  } catch (error) {
    backend.disposeData(info.dataId, true)
    throw error
  }
  return tf.engine().makeTensorFromTensorInfo(info)
}

/**
 * A float32 tensor of `values`, which the caller may then reuse: the wasm backend copies
 * values into its heap as it makes a tensor, other backends (the cpu one keeps the array it
 * is given) get a copy.
 */
const float32Tensor = (values: Float32Array, shape: ReadonlyArray<number>): tf.Tensor =>
  tf.tensor(tf.backend() instanceof BackendWasm ? values : values.slice(), [...shape], "float32")

/**
 * Makes float32 tensors from little-endian bytes, each its own copy (a tensor never aliases
 * the bytes). Aligned bytes go straight in; others through one scratch array reused for
 * every tensor, sized by the `largestBytes` of them.
 */
export const float32TensorMaker = (largestBytes: number): (bytes: Uint8Array, shape: ReadonlyArray<number>) => tf.Tensor => {
  let scratch: Uint8Array | undefined
  return (bytes, shape) => {
    if (bytes.byteOffset % 4 === 0) return float32Tensor(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), shape)
    scratch ??= new Uint8Array(largestBytes)
    scratch.set(bytes)
    return float32Tensor(new Float32Array(scratch.buffer, 0, bytes.byteLength / 4), shape)
  }
}

/**
 * A float32 array kept between calls, replaced by a larger one when a call needs more. Memory
 * reused this way is already touched; a fresh array of tens of megabytes pays a page fault
 * for every 4 KiB as it is first written.
 */
export const reusedFloat32 = (): ((length: number) => Float32Array) => {
  let array = new Float32Array(0)
  return (length) => {
    if (array.length < length) array = new Float32Array(length)
    return array
  }
}
