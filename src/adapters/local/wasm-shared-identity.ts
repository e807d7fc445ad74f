import * as tf from "@tensorflow/tfjs"

/** Identity as the wasm backend's Reshape kernel works: the output is the input's buffer, one more reference to it. */
const sharedIdentity: tf.KernelFunc = ({ inputs, backend }) => {
  const x = inputs["x"] as tf.TensorInfo
  ;(backend as tf.KernelBackend & { incRef(dataId: tf.DataId): void }).incRef(x.dataId)
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype }
}

/**
 * Makes tfjs-wasm's Identity kernel share its input's memory instead of copying it.
 *
 * The engine keeps every tensor a gradient will need as `keep(clone(t))`, and `clone` runs
 * Identity. On wasm that was a copy of each saved tensor: every weight a product reads and
 * every activation, once more for each kernel that saves it. A 135M-weight model's forward
 * pass held about 1.3 GB of such copies per 128-token row, which left no room in the 4 GiB
 * heap to train it in full. The wasm backend counts references per buffer (Reshape already
 * shares), and no kernel writes into its inputs, so a shared buffer serves as well as a copy.
 * Call after the wasm backend is registered; calling again changes nothing.
 */
export const shareIdentityOnWasm = (): void => {
  if (tf.getKernel(tf.Identity, "wasm")?.kernelFunc === sharedIdentity) return
  tf.unregisterKernel(tf.Identity, "wasm")
  tf.registerKernel({ kernelName: tf.Identity, backendName: "wasm", kernelFunc: sharedIdentity })
}
