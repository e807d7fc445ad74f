/**
 * sous: typed training recipes compiled into telemetry-wrapped workflows of stages that
 * talk to ports; adapters plug real systems into the ports.
 *
 * The root export holds the ports and their vocabulary, the stages, the workflow DSL and
 * runner, the recipes, the built-in adapters and the composition root.
 */
export * from "./ports/index.js"
export * from "./stages/index.js"
export * from "./workflows/index.js"
export * from "./recipes/index.js"
export * from "./adapters/index.js"
export { kitchenLayer, type KitchenOptions, runRecipe } from "./kitchen.js"
