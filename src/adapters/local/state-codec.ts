import * as tf from "@tensorflow/tfjs"
import { Schema } from "effect"
import { ModelArchitecture } from "../../ports/index.js"
import { shapeSize } from "./parameters.js"

/** The adapters a LoRA state holds, and a digest of the base weights they were trained on. */
export const LoraHeader = Schema.Struct({
  rank: Schema.Int,
  alpha: Schema.Finite,
  trainAttn: Schema.Boolean,
  trainMlp: Schema.Boolean,
  trainUnembed: Schema.Boolean,
  baseDigest: Schema.String
})
export type LoraHeader = typeof LoraHeader.Type

/**
 * The JSON header of a saved local state. `state` files hold weights and optimizer state;
 * `weights` files (for samplers) hold weights only. `tensors` lists the tensors of the data
 * section in order, as `tf.io.encodeWeights` laid them out. A state with `lora` holds
 * adapters (`lora/…`) instead of model weights (`params/…`).
 */
export const StateHeader = Schema.Struct({
  format: Schema.Literal("sous-local-state"),
  version: Schema.Literal(1),
  name: Schema.String,
  kind: Schema.Literals(["state", "weights"]),
  architecture: ModelArchitecture,
  step: Schema.Int,
  lora: Schema.optionalKey(LoraHeader),
  tensors: Schema.Array(Schema.Struct({
    name: Schema.String,
    shape: Schema.Array(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0, { expected: "an integer >= 0" }))),
    dtype: Schema.Literal("float32")
  }))
})
export type StateHeader = typeof StateHeader.Type

/** What a state file holds, before it is encoded. */
export interface StateContents {
  readonly name: string
  readonly kind: StateHeader["kind"]
  readonly architecture: ModelArchitecture
  readonly step: number
  readonly lora?: LoraHeader | undefined
  readonly tensors: ReadonlyArray<{ readonly name: string; readonly tensor: tf.Tensor }>
}

// Layout: 8 magic bytes, the header length (uint32, little endian), the UTF-8 JSON header,
// then the raw float32 data of every tensor (bit-exact, so a round trip changes nothing).
const magic = new TextEncoder().encode("sous-tf1")
const prefixLength = magic.length + 4

const decodeHeaderJson = Schema.decodeUnknownSync(Schema.fromJsonString(StateHeader))

/** Encodes a state to bytes. */
export const encodeState = async (contents: StateContents): Promise<Uint8Array> => {
  const { data, specs } = await tf.io.encodeWeights(contents.tensors.map(({ name, tensor }) => ({ name, tensor })))
  refuseNonFinite(data, specs)
  const header: StateHeader = {
    format: "sous-local-state",
    version: 1,
    name: contents.name,
    kind: contents.kind,
    architecture: contents.architecture,
    step: contents.step,
    ...(contents.lora === undefined ? {} : { lora: contents.lora }),
    tensors: specs.map((spec) => {
      if (spec.dtype !== "float32") throw new Error(`State tensor ${spec.name} is ${spec.dtype}, not float32`)
      return { name: spec.name, shape: spec.shape, dtype: spec.dtype }
    })
  }
  const headerBytes = new TextEncoder().encode(JSON.stringify(header))
  const bytes = new Uint8Array(prefixLength + headerBytes.length + data.byteLength)
  bytes.set(magic, 0)
  new DataView(bytes.buffer).setUint32(magic.length, headerBytes.length, true)
  bytes.set(headerBytes, prefixLength)
  bytes.set(new Uint8Array(data), prefixLength + headerBytes.length)
  return bytes
}

/**
 * Throws, naming the first tensor, when the encoded float32 data holds a NaN or an infinity:
 * weights that diverged are never saved, so no checkpoint (or sampler) holds them.
 */
const refuseNonFinite = (data: ArrayBuffer, specs: ReadonlyArray<tf.io.WeightsManifestEntry>) => {
  const values = new Float32Array(data)
  let offset = 0
  for (const spec of specs) {
    const size = spec.shape.reduce((product, dimension) => product * dimension, 1)
    for (let i = offset; i < offset + size; i++) {
      if (!Number.isFinite(values[i]!)) {
        throw new Error(`${spec.name} holds ${values[i]}: training diverged, and state that is not finite is never saved (lower the learning rate)`)
      }
    }
    offset += size
  }
}

/** A decoded header and the data section it describes. */
export interface DecodedState {
  readonly header: StateHeader
  readonly data: ArrayBuffer
}

/** Reads the header of state bytes. Throws with a readable message when they are not a local state. */
export const decodeState = (bytes: Uint8Array): DecodedState => {
  if (bytes.length < prefixLength || magic.some((byte, i) => bytes[i] !== byte)) {
    throw new Error("the bytes are not a sous local state (bad magic)")
  }
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(magic.length, true)
  const dataStart = prefixLength + headerLength
  if (dataStart > bytes.length) throw new Error("the state is truncated (header)")
  const header = decodeHeaderJson(new TextDecoder().decode(bytes.subarray(prefixLength, dataStart)))
  const names = new Set<string>()
  for (const { name } of header.tensors) {
    // Decoded by name, a repeated tensor would replace the first, which nothing would then free.
    if (names.has(name)) throw new Error(`the state lists tensor ${name} twice`)
    names.add(name)
  }
  const expectedBytes = header.tensors.reduce((total, t) => total + 4 * shapeSize(t.shape), 0)
  if (bytes.length - dataStart !== expectedBytes) {
    throw new Error(`the state holds ${bytes.length - dataStart} data bytes, its header describes ${expectedBytes}`)
  }
  // A copy, so the tensors never alias the caller's buffer. Not `bytes.slice`: on a Node
  // Buffer (what readFileSync returns) that is a view, whose `.buffer` is the whole file.
  return { header, data: new Uint8Array(bytes.subarray(dataStart)).buffer }
}

/** Why a state lacks one of the `expected` tensors (key, shape) or holds it in another shape, or `undefined`. */
export const tensorShapesProblem = (
  state: DecodedState,
  expected: ReadonlyArray<readonly [string, ReadonlyArray<number>]>
): string | undefined => {
  const shapes = new Map(state.header.tensors.map((t) => [t.name, t.shape.join("x")]))
  for (const [key, shape] of expected) {
    const found = shapes.get(key)
    if (found === undefined) return `the state has no tensor ${key}`
    if (found !== shape.join("x")) return `tensor ${key} has shape ${found}, the model needs ${shape.join("x")}`
  }
  return undefined
}

/**
 * The tensors of a decoded state, by name. The caller owns (and disposes) them. Inside
 * `tf.tidy`, so a tensor that fails to decode frees those decoded before it.
 */
export const decodeStateTensors = (state: DecodedState): tf.NamedTensorMap =>
  tf.tidy(() => tf.io.decodeWeights(state.data, state.header.tensors.map((t) => ({ ...t, shape: [...t.shape] }))))
