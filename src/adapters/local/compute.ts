import { Effect } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { TrainingError } from "../../ports/index.js"

/** Runs TensorFlow.js work, turning a throw (a bug, an out-of-memory) into a `TrainingError`. */
export const compute = <A>(operation: string, run: () => A): Effect.Effect<A, TrainingError> =>
  Effect.try({
    try: run,
    catch: (error) => new TrainingError({ operation, message: messageOf(error), retryable: false, cause: error })
  })

/** {@link compute} for asynchronous work (reading tensors back, encoding state). */
export const computeAsync = <A>(operation: string, run: () => Promise<A>): Effect.Effect<A, TrainingError> =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new TrainingError({ operation, message: messageOf(error), retryable: false, cause: error })
  })
