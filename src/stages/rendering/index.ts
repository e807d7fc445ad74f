/**
 * Chat to tokens: the built-in and jinja renderers, which tokens are trained, rendering
 * rows and prompts, and building `cross_entropy` datums from rendered chats.
 */
export * from "./chat-renderer.js"
export * from "./completion-prompt.js"
export * from "./datum-builder.js"
export * from "./jinja-renderer.js"
export * from "./mark-trained.js"
export * from "./render-chat-data.js"
export * from "./render-prompts.js"
export * from "./renderer-turns.js"
