/**
 * Messages whose protobuf bytes are pinned in `fixtures/proto-golden.json`. The bytes were
 * written by the hand-rolled codec sous used before it moved to `effect/protobuf`, so the
 * golden test proves the move changed nothing on the wire. Each case also says what decoding
 * those bytes gives (`decoded`, when that is not the message itself: float32 rounding, a
 * dropped 1-D output shape, a lone surrogate).
 *
 * Plain data only (type imports), so a script can load it without a build.
 */
import type { ForwardBackwardOutput, SampleResponse } from "../../src/ports/index.js"
import type { ForwardBackwardRequestMessage } from "../../src/protocol/proto-messages.js"

export interface GoldenCase<A> {
  readonly name: string
  readonly message: A
  readonly decoded?: A
}

// Deterministic value lists, long enough for 2- and 3-byte length prefixes.
const range = <A = number>(count: number, value: (index: number) => A): Array<A> =>
  Array.from({ length: count }, (_, index) => value(index))

const withProtoKey: ForwardBackwardRequestMessage["data"][number]["loss_fn_inputs"] = JSON.parse(
  "{\"__proto__\": {\"data\": [-9007199254740991], \"dtype\": \"int64\", \"shape\": [1, 1, 1]}}"
)

export const requestCases: ReadonlyArray<GoldenCase<ForwardBackwardRequestMessage>> = [
  {
    name: "request/empty",
    message: { model_id: "", seq_id: 0, data: [], loss_fn: "", loss_fn_config: {}, forward_only: false }
  },
  {
    name: "request/full",
    message: {
      model_id: "3f0c9a7e-1111:train:0 модель 😀",
      seq_id: 42,
      data: [
        {
          model_input: { chunks: [{ type: "encoded_text", tokens: [0, 1, 2_147_483_647, -5, -2_147_483_648] }] },
          loss_fn_inputs: {
            target_tokens: { data: [7, -3, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER], dtype: "int64" },
            weights: { data: [1, 0.5, 0.25, 0, -2.75], dtype: "float32" },
            advantages: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [2, 3] }
          }
        },
        {
          model_input: {
            chunks: [
              { type: "float_tensor", data: [0.5, -1, 3.25, 0, 1.5, 2], shape: [2, 3, 1] },
              { type: "encoded_text", tokens: [] }
            ]
          },
          loss_fn_inputs: { target_tokens: { data: [9], dtype: "int64", shape: [1] } }
        },
        { model_input: { chunks: [] }, loss_fn_inputs: {} }
      ],
      loss_fn: "ppo",
      loss_fn_config: { clip_low_threshold: 0.8, clip_high_threshold: 1.2 },
      forward_only: true
    }
  },
  {
    name: "request/negative-seq-and-empty-tensors",
    message: {
      model_id: "m",
      seq_id: -7,
      data: [{
        model_input: {
          chunks: [
            { type: "float_tensor", data: [], shape: [0, 4] },
            { type: "float_tensor", data: [1.5], shape: [] },
            { type: "encoded_text", tokens: [3] }
          ]
        },
        loss_fn_inputs: {
          empty_float: { data: [], dtype: "float32", shape: [0] },
          empty_int: { data: [], dtype: "int64" },
          column: { data: [4, 5], dtype: "int64", shape: [2, 1] }
        }
      }],
      loss_fn: "cross_entropy",
      loss_fn_config: {},
      forward_only: false
    }
  },
  {
    name: "request/int32-extremes",
    message: { model_id: "", seq_id: -2_147_483_648, data: [], loss_fn: "", loss_fn_config: {}, forward_only: true }
  },
  {
    name: "request/int32-max",
    message: { model_id: "x", seq_id: 2_147_483_647, data: [], loss_fn: "", loss_fn_config: {}, forward_only: false }
  },
  {
    name: "request/wide",
    message: {
      model_id: "model-".repeat(40),
      seq_id: 300,
      data: [{
        model_input: { chunks: [{ type: "encoded_text", tokens: range(300, (index) => index * 7919 - 100_000) }] },
        loss_fn_inputs: {
          weights: {
            data: [...range(46, (index) => index / 8 - 2), 3.4028234663852886e38, 1.401298464324817e-45, -0, Infinity, -Infinity, Number.NaN],
            dtype: "float32"
          },
          ids: { data: range(40, (index) => (index % 2 === 0 ? 1 : -1) * 2 ** index), dtype: "int64", shape: [5, 8] }
        }
      }],
      loss_fn: "importance_sampling",
      loss_fn_config: { "10": 1, "2": -0.5, "": 0, beta: Infinity, gamma: Number.NaN, delta: 1e-300, eps: -1.7976931348623157e308 },
      forward_only: false
    }
  },
  {
    name: "request/big",
    message: {
      model_id: "big",
      seq_id: 1,
      data: [{
        model_input: { chunks: [{ type: "float_tensor", data: range(4100, (index) => (index % 97) / 4), shape: [41, 100] }] },
        loss_fn_inputs: {}
      }],
      loss_fn: "",
      loss_fn_config: {},
      forward_only: false
    }
  },
  {
    name: "request/proto-key",
    message: {
      model_id: "p",
      seq_id: 2,
      data: [{ model_input: { chunks: [] }, loss_fn_inputs: withProtoKey }],
      loss_fn: "",
      loss_fn_config: {},
      forward_only: false
    }
  },
  {
    name: "request/rounding-and-surrogates",
    message: {
      model_id: "a\uD800b",
      seq_id: 5,
      data: [{ model_input: { chunks: [] }, loss_fn_inputs: { weights: { data: [0.1, 1 / 3], dtype: "float32" } } }],
      loss_fn: `a long loss name past thirty-two characters ${"\uDC00"} and 😀 too`,
      loss_fn_config: { beta: 0.1 },
      forward_only: false
    },
    decoded: {
      model_id: "a\uFFFDb",
      seq_id: 5,
      data: [{
        model_input: { chunks: [] },
        loss_fn_inputs: { weights: { data: [0.10000000149011612, 0.3333333432674408], dtype: "float32" } }
      }],
      loss_fn: "a long loss name past thirty-two characters \uFFFD and 😀 too",
      loss_fn_config: { beta: 0.1 },
      forward_only: false
    }
  }
]

export const outputCases: ReadonlyArray<GoldenCase<ForwardBackwardOutput>> = [
  { name: "output/empty", message: { loss_fn_output_type: "", loss_fn_outputs: [], metrics: {} } },
  {
    name: "output/batched",
    message: {
      loss_fn_output_type: "cross_entropy",
      loss_fn_outputs: [
        { logprobs: { data: [-0.5, -1.25, -3], dtype: "float32" }, elementwise_loss: { data: [0.5, 1.25, 3], dtype: "float32" } },
        { logprobs: { data: [-2], dtype: "float32" }, elementwise_loss: { data: [2], dtype: "float32" } },
        { logprobs: { data: [], dtype: "float32" }, elementwise_loss: { data: [], dtype: "float32" } }
      ],
      metrics: { "loss:sum": 6.75, "weights:sum": 4 }
    }
  },
  {
    name: "output/per-datum",
    message: {
      loss_fn_output_type: "custom",
      loss_fn_outputs: [
        { logprobs: { data: [-1, -2], dtype: "float32" } },
        { logprobs: { data: [-1], dtype: "float32" }, tokens: { data: [5, 2 ** 33, -(2 ** 40)], dtype: "int64" } },
        { logits: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [2, 3] } },
        { logits: { data: [1, 2, 3, 4], dtype: "float32", shape: [1, 4] } },
        {}
      ],
      metrics: {}
    }
  },
  {
    name: "output/shapes",
    message: {
      loss_fn_output_type: "dro",
      loss_fn_outputs: [
        { logits: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [3, 2] }, ids: { data: [1, 2], dtype: "int64", shape: [2] } },
        { logits: { data: [7, 8], dtype: "float32", shape: [1, 2] }, ids: { data: [3], dtype: "int64" } }
      ],
      metrics: { "loss:mean": 0.5 }
    },
    decoded: {
      loss_fn_output_type: "dro",
      loss_fn_outputs: [
        { logits: { data: [1, 2, 3, 4, 5, 6], dtype: "float32", shape: [3, 2] }, ids: { data: [1, 2], dtype: "int64" } },
        { logits: { data: [7, 8], dtype: "float32", shape: [1, 2] }, ids: { data: [3], dtype: "int64" } }
      ],
      metrics: { "loss:mean": 0.5 }
    }
  },
  {
    name: "output/int64-batched",
    message: {
      loss_fn_output_type: "tokens",
      loss_fn_outputs: [
        { ids: { data: [Number.MIN_SAFE_INTEGER, -1, 0, Number.MAX_SAFE_INTEGER], dtype: "int64", shape: [2, 2] } },
        { ids: { data: [2 ** 53 - 2, -(2 ** 32)], dtype: "int64", shape: [1, 2] } }
      ],
      metrics: { "z:last": -1, "a:first": 1e-10, "m:mean": 123456.789 }
    }
  },
  {
    name: "output/wide",
    message: {
      loss_fn_output_type: "x".repeat(150),
      loss_fn_outputs: range(3, (datum) => datum).map((datum) => ({
        logprobs: { data: range(100, (index) => -(index + datum) / 16), dtype: "float32" as const }
      })),
      metrics: Object.fromEntries(range(20, (index) => index).map((index) => [`metric_${index}:sum`, index * 1.5]))
    }
  }
]

export const sampleCases: ReadonlyArray<GoldenCase<SampleResponse>> = [
  { name: "sample/empty", message: { sequences: [] } },
  {
    name: "sample/full",
    message: {
      sequences: [
        { stop_reason: "stop", tokens: [5, 6, 7], logprobs: [-0.5, -1.5, -0.25] },
        { stop_reason: "length", tokens: [1] },
        { stop_reason: "length", tokens: [], logprobs: [] }
      ],
      prompt_logprobs: [null, -1.5, -0.125]
    }
  },
  {
    name: "sample/empty-sequence",
    message: { sequences: [{ stop_reason: "stop", tokens: [] }], prompt_logprobs: [] }
  },
  {
    name: "sample/long",
    message: {
      sequences: [
        { stop_reason: "length", tokens: range(200, (index) => index * 151 - 3000), logprobs: range(200, (index) => -index / 32) },
        { stop_reason: "stop", tokens: [2_147_483_647, -2_147_483_648, 0] }
      ],
      prompt_logprobs: range<number | null>(60, (index) => (index % 7 === 0 ? null : -index / 4))
    }
  }
]
