import * as tf from "@tensorflow/tfjs"
import { Schema } from "effect"
import { ModelArchitecture } from "../../ports/index.js"
import { shapeSize } from "./parameters.js"
import { float32TensorMaker, withFloat32Values } from "./tensor-memory.js"

/** The adapters a LoRA state holds, and a digest of the base weights they were trained on. */
export const LoraHeader = Schema.Struct({
  rank: Schema.Int,
  alpha: Schema.Finite,
  trainAttn: Schema.Boolean,
  trainMlp: Schema.Boolean,
  trainUnembed: Schema.Boolean,
  // The Hugging Face modules adapted; absent for sous's transformer, so its states read as before.
  modules: Schema.optionalKey(Schema.Array(Schema.String)),
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

/**
 * A tensor to save: one of the backend's, or float32 values held in JavaScript memory (as
 * AdamW's moments are).
 */
export type StateTensor = tf.Tensor | { readonly shape: ReadonlyArray<number>; readonly values: Float32Array }

const isHeld = (tensor: StateTensor): tensor is Exclude<StateTensor, tf.Tensor> => !(tensor instanceof tf.Tensor)

/** What a state file holds, before it is encoded. */
export interface StateContents {
  readonly name: string
  readonly kind: StateHeader["kind"]
  readonly architecture: ModelArchitecture
  readonly step: number
  readonly lora?: LoraHeader | undefined
  readonly tensors: ReadonlyArray<{ readonly name: string; readonly tensor: StateTensor }>
}

// Layout: 8 magic bytes, the header length (uint32, little endian), the UTF-8 JSON header,
// then the raw float32 data of every tensor (bit-exact, so a round trip changes nothing).
const magic = new TextEncoder().encode("sous-tf1")
const prefixLength = magic.length + 4

const decodeHeaderJson = Schema.decodeUnknownSync(Schema.fromJsonString(StateHeader))

/** The bytes before the data section (magic, header length, JSON header), and the data's length. */
const encodeHeader = (contents: StateContents): { readonly prefix: Uint8Array; readonly dataBytes: number } => {
  const header: StateHeader = {
    format: "sous-local-state",
    version: 1,
    name: contents.name,
    kind: contents.kind,
    architecture: contents.architecture,
    step: contents.step,
    ...(contents.lora === undefined ? {} : { lora: contents.lora }),
    tensors: contents.tensors.map(({ name, tensor }) => {
      if (!isHeld(tensor) && tensor.dtype !== "float32") throw new Error(`State tensor ${name} is ${tensor.dtype}, not float32`)
      return { name, shape: [...tensor.shape], dtype: "float32" as const }
    })
  }
  const headerBytes = new TextEncoder().encode(JSON.stringify(header))
  const prefix = new Uint8Array(prefixLength + headerBytes.length)
  prefix.set(magic, 0)
  new DataView(prefix.buffer).setUint32(magic.length, headerBytes.length, true)
  prefix.set(headerBytes, prefixLength)
  return { prefix, dataBytes: header.tensors.reduce((total, { shape }) => total + 4 * shapeSize(shape), 0) }
}

/**
 * Hands `use` each tensor's values in data order (see `withFloat32Values`), after checking
 * that they are finite.
 */
const forEachValues = (contents: StateContents, use: (values: Float32Array, held: boolean) => void): void => {
  for (const { name, tensor } of contents.tensors) {
    const checked = (values: Float32Array) => {
      refuseNonFinite(name, values)
      use(values, isHeld(tensor))
    }
    if (isHeld(tensor)) checked(tensor.values)
    else withFloat32Values(tensor, checked)
  }
}

const bytesOf = (values: Float32Array) => new Uint8Array(values.buffer, values.byteOffset, values.byteLength)

/**
 * Encodes a state to bytes: the layout `tf.io.encodeWeights` gives, written into one array
 * with each tensor's values copied once, straight from the backend (see `withFloat32Values`).
 * Throws, naming the tensor, when a value is a NaN or an infinity: weights that diverged are
 * never saved, so no checkpoint (or sampler) holds them.
 */
export const encodeState = (contents: StateContents): Uint8Array => {
  const { prefix, dataBytes } = encodeHeader(contents)
  const bytes = new Uint8Array(prefix.length + dataBytes)
  bytes.set(prefix, 0)
  let offset = prefix.length
  forEachValues(contents, (values) => {
    bytes.set(bytesOf(values), offset)
    offset += values.byteLength
  })
  return bytes
}

/**
 * {@link encodeState}'s bytes as pieces, without joining them: a state of tens of megabytes
 * then takes no fresh memory, whose first touch costs as much as writing it to disk. Values
 * held in JavaScript (AdamW's moments) are lent as they lie; the backend's tensors are copied
 * into `staging`, from the start, since a view into the wasm heap would go stale if other
 * work grew the heap while the pieces are being written. `staging(length)` answers an array
 * of at least `length` values, kept by the caller between saves. The pieces are valid until
 * `staging` is reused or the held values change. Throws as {@link encodeState} does.
 */
export const encodeStatePieces = (contents: StateContents, staging: (length: number) => Float32Array): Array<Uint8Array> => {
  const { prefix } = encodeHeader(contents)
  const stagedLength = contents.tensors.reduce((total, { tensor }) => total + (isHeld(tensor) ? 0 : shapeSize(tensor.shape)), 0)
  const stage = staging(stagedLength)
  let staged = 0
  const pieces = [prefix]
  forEachValues(contents, (values, held) => {
    if (held) {
      pieces.push(bytesOf(values))
      return
    }
    const copy = stage.subarray(staged, staged + values.length)
    copy.set(values)
    staged += values.length
    pieces.push(bytesOf(copy))
  })
  return pieces
}

// Any NaN or infinity makes `value * 0` a NaN, and with it the sum: one multiply-add per value
// (four running sums, so they pipeline), the slow search only when the sum says there is one.
const refuseNonFinite = (name: string, values: Float32Array) => {
  let a = 0, b = 0, c = 0, d = 0
  const whole = values.length - (values.length % 4)
  for (let i = 0; i < whole; i += 4) {
    a += values[i]! * 0
    b += values[i + 1]! * 0
    c += values[i + 2]! * 0
    d += values[i + 3]! * 0
  }
  for (let i = whole; i < values.length; i++) a += values[i]! * 0
  if (a + b + c + d === 0) return
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new Error(`${name} holds ${values[i]}: training diverged, and state that is not finite is never saved (lower the learning rate)`)
    }
  }
}

/**
 * A decoded header and the data section it describes. `data` views the decoded bytes (no
 * copy of tens of megabytes): decode the tensors before those bytes change.
 */
export interface DecodedState {
  readonly header: StateHeader
  readonly data: Uint8Array
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
  // A plain Uint8Array view: on a Node Buffer (what readFileSync returns) `subarray` is a
  // Buffer, whose `.buffer` may be a shared pool; the tensors copy out of it as they decode.
  return { header, data: new Uint8Array(bytes.buffer, bytes.byteOffset + dataStart, bytes.byteLength - dataStart) }
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

/** The bytes of each tensor of a decoded state, by name, with its shape, in file order. */
const stateBytes = (state: DecodedState): Map<string, { readonly shape: ReadonlyArray<number>; readonly bytes: Uint8Array }> => {
  const entries = new Map<string, { readonly shape: ReadonlyArray<number>; readonly bytes: Uint8Array }>()
  let offset = 0
  for (const { name, shape } of state.header.tensors) {
    const size = 4 * shapeSize(shape)
    entries.set(name, { shape, bytes: state.data.subarray(offset, offset + size) })
    offset += size
  }
  return entries
}

/**
 * The tensors of a decoded state, by name, each a copy of its bytes: all of them, or those
 * `only` names. The caller owns (and disposes) them. Inside `tf.tidy`, so a tensor that
 * fails to decode frees those decoded before it.
 */
export const decodeStateTensors = (state: DecodedState, only?: ReadonlySet<string>): tf.NamedTensorMap =>
  tf.tidy(() => {
    const wanted = [...stateBytes(state)].filter(([name]) => only === undefined || only.has(name))
    const makeTensor = float32TensorMaker(Math.max(0, ...wanted.map(([, { bytes }]) => bytes.length)))
    const tensors: tf.NamedTensorMap = {}
    for (const [name, { shape, bytes }] of wanted) tensors[name] = makeTensor(bytes, shape)
    return tensors
  })

/**
 * Copies the values of each of the state's tensors `name` into its `target`, which must be of
 * its size (checked with {@link tensorShapesProblem} first), without making tensors.
 */
export const readStateValues = (state: DecodedState, targets: ReadonlyArray<readonly [string, Float32Array]>): void => {
  const entries = stateBytes(state)
  for (const [name, target] of targets) {
    const entry = entries.get(name)
    if (entry === undefined || entry.bytes.length !== target.byteLength) {
      throw new Error(`the state has no tensor ${name} of ${target.length} values`)
    }
    new Uint8Array(target.buffer, target.byteOffset, target.byteLength).set(entry.bytes)
  }
}
