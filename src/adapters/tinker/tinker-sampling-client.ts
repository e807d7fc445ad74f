import { Effect } from "effect"
import {
  type BaseModelSource,
  type BackendUnavailableError,
  InvalidRequestError,
  type ModelInput,
  type SampleResponse,
  SampleResponse as SampleResponseSchema,
  type SamplingClient,
  type SamplingParams,
  type StateRef,
  type TrainingCallError,
  TrainingError
} from "../../ports/index.js"
import type { FutureResult } from "./future-poller.js"
import { CreateSamplingSessionResponse, decodeSampleResponse } from "../../protocol/index.js"
import { callError, creationError, decodeReply, startCall } from "./remote-request.js"
import { jsonBody, replyJson, TinkerRequestError } from "./tinker-http.js"
import type { TinkerSession } from "./tinker-session.js"

/** A sample result: protobuf as asked for, or JSON from a server that has no protobuf form. */
export const decodeSampleResult = (result: FutureResult): Effect.Effect<SampleResponse, TinkerRequestError> =>
  result.json === undefined
    ? Effect.try({
      try: () => decodeSampleResponse(result.reply.body),
      catch: (error) =>
        new TinkerRequestError({
          endpoint: "/asample",
          kind: "failed",
          message: `/asample answered a protobuf result that cannot be read: ${String(error)}`,
          cause: error
        })
    })
    : decodeReply(SampleResponseSchema, "/asample", result.json)

/** What a sampling session is created from: a saved sampler path, or a base model. */
const samplingSource = (
  source: StateRef | BaseModelSource
): Effect.Effect<Record<string, unknown>, InvalidRequestError> => {
  if (!("_tag" in source)) {
    const { architecture, seed } = source
    return Effect.succeed({
      base_model: source.baseModel,
      // sous extension: a server over a local backend builds base models from an architecture.
      ...(architecture === undefined ? {} : { sous: { architecture, ...(seed === undefined ? {} : { seed }) } })
    })
  }
  if (source._tag === "Remote") return Effect.succeed({ model_path: source.path })
  return Effect.fail(
    new InvalidRequestError({
      operation: "createSamplingClient",
      message: "a remote service loads tinker:// paths (from saveWeightsForSampler), not checkpoint bytes saved by a local backend"
    })
  )
}

/**
 * A {@link SamplingClient} over a sampling session of a Tinker service. Calls start their
 * request and return at once; `computeLogprobs` is a one-token sample that asks for the
 * prompt's logprobs, as the protocol has it.
 */
export const makeTinkerSamplingClient = Effect.fn("TinkerSamplingClient.make")(
  function*(
    session: TinkerSession,
    source: StateRef | BaseModelSource
  ): Effect.fn.Return<SamplingClient["Service"], TrainingCallError | BackendUnavailableError> {
    const from = yield* samplingSource(source)
    const created = yield* session.http.submit({
      endpoint: "/create_sampling_session",
      body: jsonBody({
        session_id: session.sessionId,
        sampling_session_seq_id: session.nextSamplingSessionSeqId(),
        ...from,
        type: "create_sampling_session"
      })
    }).pipe(
      Effect.flatMap((submitted) =>
        decodeReply(CreateSamplingSessionResponse, "/create_sampling_session", replyJson(submitted.reply))
      ),
      Effect.mapError(creationError("createSamplingClient"))
    )
    const samplingSessionId = created.sampling_session_id
    let seqId = 0

    const request = (body: Record<string, unknown>) => {
      seqId += 1
      return startCall(session, {
        request: {
          endpoint: "/asample",
          body: jsonBody({ sampling_session_id: samplingSessionId, seq_id: seqId, ...body, type: "sample" })
        },
        requestType: "Sample",
        acceptProto: true,
        decode: decodeSampleResult
      })
    }

    const sample = Effect.fn("TinkerSamplingClient.sample")(
      function*(prompt: ModelInput, numSamples: number, params: SamplingParams) {
        const call = yield* request({ num_samples: numSamples, prompt, sampling_params: params })
        return { result: Effect.mapError(call.result, callError("sample", true)) }
      }
    )

    const computeLogprobs = Effect.fn("TinkerSamplingClient.computeLogprobs")(function*(prompt: ModelInput) {
      const call = yield* request({
        num_samples: 1,
        prompt,
        sampling_params: { max_tokens: 1, temperature: 1, top_k: -1, top_p: 1 },
        prompt_logprobs: true
      })
      return {
        result: call.result.pipe(
          Effect.mapError(callError("computeLogprobs", true)),
          Effect.flatMap((response) =>
            response.prompt_logprobs === undefined
              ? Effect.fail(
                new TrainingError({
                  operation: "computeLogprobs",
                  message: "/asample answered without the prompt logprobs it was asked for",
                  retryable: false
                })
              )
              : Effect.succeed(response.prompt_logprobs)
          )
        )
      }
    })

    // The protocol scores one prompt a request: every request is sent before any answer is read.
    const computeLogprobsBatch = Effect.fn("TinkerSamplingClient.computeLogprobsBatch")(
      function*(prompts: ReadonlyArray<ModelInput>) {
        const calls = []
        for (const prompt of prompts) calls.push(yield* computeLogprobs(prompt))
        return { result: Effect.forEach(calls, (call) => call.result) }
      }
    )

    return { sample, computeLogprobs, computeLogprobsBatch }
  }
)
