/**
 * The `tinker_public` protobuf messages sous sends and reads: the forward/backward request
 * and its output, and the sample response. Field numbers follow the Tinker SDK's
 * `tinker_public.proto`. sous adds one field, Chunk 15 `FloatTensorChunk{data = 1 (float32
 * LE bytes), shape = 2 (packed int64)}`, for its `float_tensor` chunks; other decoders skip it.
 *
 * Encoders throw a `RangeError` for values the wire cannot carry (a fractional token id);
 * decoders throw a {@link ProtoDecodeError} naming the message and field that is wrong.
 * The wire format itself is effect's `ProtobufReader`/`ProtobufWriter` (`effect/protobuf`;
 * why, in `proto-reader.ts`).
 */
export { ProtoDecodeError } from "./proto-reader.js"
export {
  decodeForwardBackwardRequest,
  encodeForwardBackwardRequest,
  type ForwardBackwardRequestMessage,
  type ForwardBackwardTurn,
  readForwardBackwardTurn
} from "./forward-backward-request-proto.js"
export { decodeForwardBackwardOutput, encodeForwardBackwardOutput } from "./forward-backward-output-proto.js"
export { decodeSampleResponse, encodeSampleResponse } from "./sample-response-proto.js"
