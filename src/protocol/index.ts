/**
 * The Tinker wire protocol, shared by the `tinker` client adapter and `sous serve`: the JSON
 * request and reply schemas, the protobuf messages of forward/backward and sampling, zstd
 * bodies, and how the metrics of chunked requests merge. Imports only ports (the data
 * vocabulary the messages carry) and effect.
 */
export * from "./metric-merge.js"
export * from "./proto-messages.js"
export * from "./wire-types.js"
export * from "./zstd.js"
