import { Effect, Option } from "effect"
import {
  type CompleteMetadataResponse,
  encodeForwardBackwardOutput,
  encodeSampleResponse,
  FutureRetrieveRequest,
  type RequestFailedResponse,
  type TryAgainResponse
} from "../../protocol/index.js"
import type { FutureOutcome, FutureResult } from "../future-store.js"
import { HttpFailure, jsonReply, protobufContentType, protobufReply, type Reply } from "../http-reply.js"
import { decodeJsonBody } from "../request-body.js"
import type { Route, RouteRequest, ServerState } from "../server-state.js"

/** The answer to a poll that found the request still waiting or running. */
export const tryAgainReply = (requestId: string, status = 200): Reply =>
  jsonReply({ type: "try_again", request_id: requestId, queue_state: "active" } satisfies TryAgainResponse, status)

const acceptsProtobuf = (request: RouteRequest): boolean =>
  (request.message.headers.accept ?? "").toLowerCase().includes(protobufContentType)

/** A result as JSON, or as protobuf where the protocol has a message for it and the client asks. */
const resultReply = (result: FutureResult, protobuf: boolean, headers: Readonly<Record<string, string>>): Reply => {
  switch (result._tag) {
    case "Json":
      return jsonReply(result.body, 200, headers)
    case "ForwardBackward":
      return protobuf ? protobufReply(encodeForwardBackwardOutput(result.output), headers) : jsonReply(result.output, 200, headers)
    case "Sample":
      return protobuf
        ? protobufReply(encodeSampleResponse(result.response), headers)
        : jsonReply({ ...result.response, type: "sample" }, 200, headers)
  }
}

/**
 * `retrieve_future`: long-polls a request's outcome for up to the server's poll wait, then
 * answers `try_again`. A finished request answers its result (with `X-Sous-Queue-Ms` and
 * `X-Sous-Compute-Ms`), or `{error, category}`; a poll that allows metadata only is told the
 * size of a large result first. 404: an id this server never issued to the caller's key
 * (another key's reads the same), or one of an earlier run, with a message that says the
 * server restarted; 410: a sample's result that expired (resubmit the request). A training
 * result is kept until it is retrieved (see `Retention`); one dropped all the same answers a
 * failure that says not to resend it.
 */
const retrieveFuture = (state: ServerState) => {
  // Encoded once per outcome and form: a client re-polls a result after a lost reply.
  const encoded = new WeakMap<FutureOutcome, Map<boolean, Reply>>()
  return (request: RouteRequest) =>
    Effect.gen(function*() {
      const body = yield* decodeJsonBody(FutureRetrieveRequest, request.body)
      const found = state.futures.lookup(body.request_id, request.tenant.name)
      if (found._tag === "Unknown") {
        return yield* new HttpFailure({ status: 404, message: `unknown request_id ${JSON.stringify(body.request_id)}` })
      }
      if (found._tag === "OtherRun") {
        return yield* new HttpFailure({ status: 404, message: state.instance.lostState("request_id", body.request_id, found.instance) })
      }
      if (found._tag === "Expired") {
        return yield* new HttpFailure({
          status: 410,
          message: `the result of request ${body.request_id} has expired; submit the request again`
        })
      }
      // A failed future, not a 410: the Python SDK treats a 410 here as fatal, and the failure's
      // words reach the user as they are.
      if (found._tag === "Dropped") {
        return jsonReply({
          error: `the result of request ${body.request_id} is no longer kept (a result is kept until it is retrieved, and then, ` +
            `or once its model is gone, for ${state.options.futureTtlMs / 1000} s). The request ran (unless it failed): ` +
            "do not send it again, or it is applied twice",
          category: "server"
        } satisfies RequestFailedResponse)
      }
      const outcome = yield* found.await(state.options.pollWaitMs)
      if (Option.isNone(outcome)) return tryAgainReply(body.request_id)
      const { timings } = outcome.value
      const headers = { "x-sous-queue-ms": String(Math.round(timings.queueMs)), "x-sous-compute-ms": String(Math.round(timings.computeMs)) }
      if (outcome.value._tag === "Failed") {
        return jsonReply({ error: outcome.value.error, category: outcome.value.category } satisfies RequestFailedResponse, 200, headers)
      }
      const protobuf = acceptsProtobuf(request)
      const forms = encoded.get(outcome.value) ?? new Map<boolean, Reply>()
      encoded.set(outcome.value, forms)
      const reply = forms.get(protobuf) ?? resultReply(outcome.value.result, protobuf, headers)
      forms.set(protobuf, reply)
      if (body.allow_metadata_only && reply.body.byteLength > state.options.metadataThresholdBytes) {
        return jsonReply({ status: "complete_metadata", response_payload_size: reply.body.byteLength } satisfies CompleteMetadataResponse, 200, headers)
      }
      return reply
    })
}

/** The route that hands out results. */
export const futureRoutes = (state: ServerState): ReadonlyArray<Route> => [
  { method: "POST", path: "/retrieve_future", body: "application/json", kind: "poll", handle: retrieveFuture(state) }
]
