import * as tf from "@tensorflow/tfjs"
import type { CnnArchitecture, MlpArchitecture } from "../../ports/index.js"
import { conv2dSame } from "./conv2d-same.js"
import { matMul2d } from "./fast-ops.js"
import { normal, type ParameterSpec, shapeSize, type WeightLookup, zeros } from "./parameters.js"

// He initialisation: keeps the variance of ReLU activations steady from layer to layer.
const he = (fanIn: number) => normal(Math.sqrt(2 / fanIn))

/** Dense layers `dense.<i>` from `inputSize` through the `hidden` widths to `classes` outputs. */
const denseSpecs = (inputSize: number, hidden: ReadonlyArray<number>, classes: number): Array<ParameterSpec> =>
  [...hidden, classes].flatMap((width, i) => {
    const fanIn = i === 0 ? inputSize : hidden[i - 1]!
    return [
      { name: `dense.${i}.w`, shape: [fanIn, width], init: he(fanIn) },
      { name: `dense.${i}.b`, shape: [width], init: zeros }
    ]
  })

/** [b, in] → [b, classes] through the dense layers, ReLU between them. */
const denseLogits = (weight: WeightLookup, x: tf.Tensor2D, layers: number): tf.Tensor2D => {
  let h = x
  for (let i = 0; i < layers; i++) {
    const out = matMul2d(h, weight(`dense.${i}.w`) as tf.Tensor2D).add(weight(`dense.${i}.b`)) as tf.Tensor2D
    h = i === layers - 1 ? out : tf.relu(out)
  }
  return h
}

/** The parameters of an MLP classifier, in canonical order. */
export const mlpSpecs = (arch: MlpArchitecture): ReadonlyArray<ParameterSpec> =>
  denseSpecs(shapeSize(arch.inputShape), arch.hidden, arch.classes)

/** Class logits [b, classes] for float features [b, ...inputShape]. Call inside `tf.tidy`. */
export const mlpLogits = (arch: MlpArchitecture, weight: WeightLookup, features: tf.Tensor): tf.Tensor2D =>
  denseLogits(weight, features.reshape([features.shape[0]!, shapeSize(arch.inputShape)]), arch.hidden.length + 1)

/** Height and width after the convolution blocks (each halves them, rounding down). */
const pooledSize = (arch: CnnArchitecture): [number, number] => {
  const halvings = 2 ** arch.filters.length
  return [Math.floor(arch.inputShape[0] / halvings), Math.floor(arch.inputShape[1] / halvings)]
}

/** Why a CNN cannot be built (its pooling leaves nothing), or `undefined` when it can. */
export const cnnProblem = (arch: CnnArchitecture): string | undefined => {
  const [h, w] = pooledSize(arch)
  return h > 0 && w > 0
    ? undefined
    : `an input of ${arch.inputShape[0]}x${arch.inputShape[1]} is too small for ${arch.filters.length} 2x2 poolings`
}

/** The parameters of a CNN classifier, in canonical order. */
export const cnnSpecs = (arch: CnnArchitecture): ReadonlyArray<ParameterSpec> => {
  const k = arch.kernelSize
  const convs = arch.filters.flatMap((filters, i) => {
    const channels = i === 0 ? arch.inputShape[2] : arch.filters[i - 1]!
    return [
      { name: `conv.${i}.w`, shape: [k, k, channels, filters], init: he(k * k * channels) },
      { name: `conv.${i}.b`, shape: [filters], init: zeros }
    ]
  })
  const [h, w] = pooledSize(arch)
  const flat = h * w * (arch.filters.at(-1) ?? arch.inputShape[2])
  return [...convs, ...denseSpecs(flat, arch.hidden, arch.classes)]
}

/** Class logits [b, classes] for images [b, height, width, channels]. Call inside `tf.tidy`. */
export const cnnLogits = (arch: CnnArchitecture, weight: WeightLookup, images: tf.Tensor): tf.Tensor2D => {
  let x = images.reshape([images.shape[0]!, ...arch.inputShape]) as tf.Tensor4D
  arch.filters.forEach((_, i) => {
    const conv = conv2dSame(x, weight(`conv.${i}.w`) as tf.Tensor4D).add(weight(`conv.${i}.b`))
    x = tf.maxPool(tf.relu(conv) as tf.Tensor4D, 2, 2, "valid")
  })
  return denseLogits(weight, x.reshape([x.shape[0], -1]) as tf.Tensor2D, arch.hidden.length + 1)
}
