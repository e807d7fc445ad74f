import * as tf from "@tensorflow/tfjs"
import type { HfLlamaArchitecture } from "./hf-architecture.js"

const f32 = Math.fround

/**
 * The rotary inverse frequencies 1 / theta^(2i / headDim), i < headDim / 2, with Llama 3.1's
 * band-wise scaling when the config asks for it (transformers' `_compute_llama3_parameters`:
 * long wavelengths slowed by `factor`, short ones kept, the band between interpolated).
 * Rounded to float32 as torch computes them, so the angles match its tables.
 */
export const ropeInverseFrequencies = (arch: HfLlamaArchitecture): Float32Array => {
  const { headDim, ropeTheta, ropeScaling } = arch
  return Float32Array.from({ length: headDim / 2 }, (_, i) => {
    const inverse = f32(1 / f32(Math.pow(ropeTheta, f32((2 * i) / headDim))))
    if (ropeScaling.kind === "none") return inverse
    const { factor, lowFreqFactor, highFreqFactor, originalMaxPositions } = ropeScaling
    const wavelength = (2 * Math.PI) / inverse
    if (wavelength < originalMaxPositions / highFreqFactor) return inverse
    if (wavelength > originalMaxPositions / lowFreqFactor) return f32(inverse / factor)
    const smooth = (originalMaxPositions / wavelength - lowFreqFactor) / (highFreqFactor - lowFreqFactor)
    return f32((1 - smooth) * (inverse / factor) + smooth * inverse)
  })
}

/**
 * cos and sin [length, headDim] of positions `from` .. `from + length - 1`, each frequency
 * twice (the two halves of a head rotate together, transformers' layout).
 */
export const ropeTables = (
  inverse: Float32Array,
  from: number,
  length: number
): { readonly cos: tf.Tensor2D; readonly sin: tf.Tensor2D } => {
  const half = inverse.length
  const cos = new Float32Array(length * 2 * half)
  const sin = new Float32Array(length * 2 * half)
  for (let t = 0; t < length; t++) {
    for (let i = 0; i < half; i++) {
      // torch multiplies in float32, then takes cos and sin of the rounded angle.
      const angle = f32(inverse[i]! * (from + t))
      const row = t * 2 * half
      cos[row + i] = cos[row + half + i] = Math.cos(angle)
      sin[row + i] = sin[row + half + i] = Math.sin(angle)
    }
  }
  return { cos: tf.tensor2d(cos, [length, 2 * half]), sin: tf.tensor2d(sin, [length, 2 * half]) }
}

/**
 * Rotates heads [b, heads, t, headDim] by position: `x·cos + rotate_half(x)·sin`, where
 * rotate_half(x) = [-x₂, x₁] over the two halves of the head (not interleaved pairs).
 */
export const applyRope = (x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D => {
  const half = x.shape[3] / 2
  const [first, second] = tf.split(x, [half, half], 3)
  const rotated = tf.concat([second!.neg(), first!], 3)
  return x.mul(cos).add(rotated.mul(sin)) as tf.Tensor4D
}
