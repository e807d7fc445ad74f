/**
 * Preference training (DPO): pair rows, reference logprobs from the starting weights,
 * the DPO loss and step, and preference evaluation.
 */
export * from "./dpo-loss.js"
export * from "./dpo-step-loss.js"
export * from "./evaluate-preference.js"
export * from "./preference-data.js"
export * from "./reference-logprobs.js"
