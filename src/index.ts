/**
 * sous: typed training recipes compiled into telemetry-wrapped workflows of stages that
 * talk to ports; adapters plug real systems into the ports.
 *
 * The root export holds the ports and their vocabulary, the stages, the workflow DSL and
 * runner, the recipes and the composition root. The built-in adapters are the `sous/adapters`
 * subpath export (the dependency rule keeps them out of everything but the composition
 * root), and the plain TensorFlow.js pieces of the local backend are `sous/local`.
 */
export * from "./ports/index.js"
export * from "./stages/index.js"
export * from "./workflows/index.js"
export * from "./recipes/index.js"
export { checkAdapters, kitchenLayer, type KitchenOptions, runRecipe } from "./kitchen.js"
