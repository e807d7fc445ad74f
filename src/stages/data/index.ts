/**
 * Data in: loading and splitting chat and classification rows, the seeded data order,
 * batching and the fingerprint that ties a resumed run to the same data.
 */
export * from "./data-order.js"
export * from "./fingerprint-data.js"
export * from "./load-chat-data.js"
export * from "./load-classify-data.js"
export * from "./next-batch.js"
