import { Effect, Option } from "effect"
import {
  InvalidRequestError,
  type SamplingClient,
  TeacherWeights,
  TrainingBackend,
  type TrainingCallError
} from "../../ports/index.js"
import { scoreCompletions } from "./score-completions.js"
import type { PromptCompletion } from "../sampling/sample-prompts.js"

/** The teacher's sampler and words for it in errors. */
export interface Teacher {
  readonly sampler: SamplingClient["Service"]
  readonly description: string
}

// What a teacher must have in common with the student, said whenever it cannot do its part.
const teacherFit = "student and teacher must share the tokenizer, and the teacher's context must hold a prompt and the sampled reply"

/**
 * Turns a request the teacher refused into an error that names the teacher, says what it
 * could not do, and what it must share with the student; other errors pass unchanged.
 */
export const teacherError = (description: string, doing: string) => (error: TrainingCallError): TrainingCallError =>
  error._tag === "InvalidRequestError"
    ? new InvalidRequestError({ operation: "teacher", message: `the teacher (${description}) cannot ${doing}: ${error.message} (${teacherFit})` })
    : error

/**
 * A sampler over the teacher's weights (`TeacherWeights`), freed when the caller's scope
 * closes; an error when no teacher is provided. The teacher is a checkpoint's saved state:
 * the backend reads the teacher's own architecture from it, which need not be the student's.
 */
export const teacherSampler = Effect.gen(function*() {
  // Looked up rather than required: the kitchen provides a teacher to distill recipes only,
  // which the type of a layer built for any recipe cannot say.
  const provided = yield* Effect.serviceOption(TeacherWeights)
  if (Option.isNone(provided)) {
    return yield* new InvalidRequestError({ operation: "teacher", message: "no teacher is provided: a distill recipe names its checkpoint in `teacher`" })
  }
  const teacher = provided.value
  const backend = yield* TrainingBackend
  const sampler = yield* backend.createSamplingClient(teacher.source).pipe(
    Effect.mapError((error) =>
      error._tag === "InvalidRequestError"
        ? new InvalidRequestError({ operation: "teacher", message: `the teacher (${teacher.description}) cannot be loaded for sampling: ${error.message}` })
        : error
    )
  )
  return { sampler, description: teacher.description } satisfies Teacher
})

/**
 * The teacher's logprob of each token of each completion, given its prompt and the tokens
 * before it, scored in one batched submission (see {@link scoreCompletions}).
 */
export const teacherLogprobs = (teacher: Teacher, samples: ReadonlyArray<PromptCompletion>) =>
  scoreCompletions(teacher.sampler, samples, "").pipe(
    Effect.mapError(teacherError(teacher.description, "score the student's samples"))
  )
