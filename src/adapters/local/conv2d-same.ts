import * as tf from "@tensorflow/tfjs"

/**
 * The weight gradient of a same-padded, stride-1 convolution from image patches:
 * dW[i, j, c, f] = Σ over batch and positions of patch(i, j, c) · dy(f). The patches come
 * from one native convolution with an identity filter (im2col), so no kernel the wasm
 * backend lacks is needed.
 */
const filterGradient = (x: tf.Tensor4D, w: tf.Tensor4D, dy: tf.Tensor4D): tf.Tensor4D => {
  const [k, , channels, filters] = w.shape
  const patchSize = k * k * channels
  // [k, k, C, k·k·C] with a 1 at [i, j, c, (i·k + j)·C + c]: output channel p copies input (i, j, c).
  const identity = tf.eye(patchSize).reshape([k, k, channels, patchSize]) as tf.Tensor4D
  const patches = tf.conv2d(x, identity, 1, "same").reshape([-1, patchSize]) as tf.Tensor2D
  // Transposed first: a transposed product runs on the wasm backend's slow path (see fast-ops).
  return tf.transpose(patches).matMul(dy.reshape([-1, filters]) as tf.Tensor2D).reshape(w.shape) as tf.Tensor4D
}

// The wasm backend registers no Conv2DBackpropFilter kernel, so tf.conv2d's own gradient
// fails there; this one computes the same gradient from kernels every backend has.
const conv2dSameWithPatchGradient = tf.customGrad((...args) => {
  const [x, w, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc]
  save([x, w])
  return {
    value: tf.conv2d(x, w, 1, "same"),
    gradFunc: (dy: tf.Tensor, saved: Array<tf.Tensor>) => {
      const [input, filter] = saved as [tf.Tensor4D, tf.Tensor4D]
      return [
        tf.conv2dTranspose(dy as tf.Tensor4D, filter, input.shape, 1, "same"),
        filterGradient(input, filter, dy as tf.Tensor4D)
      ]
    }
  }
})

/**
 * A same-padded, stride-1 2-D convolution [b, h, w, C] × [k, k, C, F] → [b, h, w, F] whose
 * gradient works on every backend: tfjs's own where the backend has the kernel for it,
 * the patch-based one above where it does not (wasm).
 */
export const conv2dSame = (x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D =>
  tf.getKernel("Conv2DBackpropFilter", tf.getBackend()) === undefined
    ? conv2dSameWithPatchGradient(x, w) as tf.Tensor4D
    : tf.conv2d(x, w, 1, "same")
