/**
 * One optimizer step: forward/backward and the AdamW step submitted together, custom
 * (client-side) losses, and the learning-rate schedule.
 */
export * from "./custom-loss.js"
export * from "./lr-schedule.js"
export * from "./train-step.js"
