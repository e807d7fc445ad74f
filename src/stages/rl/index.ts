/**
 * Reinforcement learning (GRPO): environment calls checked at the boundary, episodes and
 * rollouts, group advantages, rollout datums and the rl training step.
 */
export * from "./env-calls.js"
export * from "./group-advantages.js"
export * from "./load-env-prompts.js"
export * from "./rl-keys.js"
export * from "./rl-rollouts.js"
export * from "./rl-train-step.js"
export * from "./rollout-datum.js"
export * from "./run-episodes.js"
