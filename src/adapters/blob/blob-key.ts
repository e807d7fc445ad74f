import { Effect } from "effect"
import { UnsafeKeyError, validateKey } from "../../ports/index.js"

/**
 * Checks a blob key before any store touches it: the port's {@link validateKey} rule, plus
 * no trailing `/`. The port allows a trailing `/` because prefixes end in one; a blob named
 * `a/` would be a directory on disk and an odd object in the cloud, so every store of this
 * folder refuses it the same way.
 */
export const checkBlobKey = (key: string): Effect.Effect<void, UnsafeKeyError> => {
  const unsafe = validateKey(key)
  if (unsafe !== undefined) return Effect.fail(unsafe)
  if (key.endsWith("/")) return Effect.fail(new UnsafeKeyError({ key, reason: "the key ends with '/'" }))
  return Effect.void
}

/** Checks a `list` prefix: the port's rule, where the empty prefix (everything) is allowed. */
export const checkBlobPrefix = (prefix: string): Effect.Effect<void, UnsafeKeyError> => {
  const unsafe = validateKey(prefix, { allowEmpty: true })
  return unsafe === undefined ? Effect.void : Effect.fail(unsafe)
}
