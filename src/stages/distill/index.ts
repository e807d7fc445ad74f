/**
 * Distillation: student rollouts scored by the teacher (on-policy), teacher replies
 * (off-policy), the reverse-KL arithmetic and its evaluation.
 */
export * from "./distill-keys.js"
export * from "./evaluate-reverse-kl.js"
export * from "./reverse-kl.js"
export * from "./student-rollouts.js"
export * from "./teacher-replies.js"
export * from "./teacher-scoring.js"
