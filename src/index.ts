/**
 * sous: typed training recipes compiled into telemetry-wrapped workflows of stages that
 * talk to ports; adapters plug real systems into the ports.
 *
 * The root export holds the ports and their vocabulary, the stages, the workflow DSL and
 * runner and the recipes; importing it loads no adapter (no TensorFlow.js). Subpath exports:
 * `sous/kitchen` is the composition root (`runRecipe`, `kitchenLayer`), `sous/adapters` the
 * built-in adapters, `sous/local` the plain TensorFlow.js pieces of the local backend.
 */
export * from "./ports/index.js"
export * from "./stages/index.js"
export * from "./workflows/index.js"
export * from "./recipes/index.js"
