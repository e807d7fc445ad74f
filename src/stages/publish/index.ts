/**
 * Publishing: the model card and the stage that pushes the trained model to a hub.
 */
export * from "./model-card.js"
export * from "./publish-model.js"
