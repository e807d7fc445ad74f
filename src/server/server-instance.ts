import { randomBytes, randomUUID } from "node:crypto"

/**
 * One run of the server. Every id it issues (request, session, and through the session the
 * model and sampling session ids) starts with its marker, `<12 hex digits>-`: after a restart
 * the server can tell an id of an earlier run, whose state it lost, from one it never issued,
 * and say so (the Python SDK shows only the server's words when a poll or request gets 404).
 */
export interface ServerInstance {
  /** The marker: 12 random hex digits. */
  readonly id: string
  /** When this run started (ms since the epoch). */
  readonly startedAt: number
  /** A new client session id: the marker and a random UUID. */
  readonly sessionId: () => string
  /**
   * The marker of another run in `id`, if `id` has the form this server issues and another
   * run's marker; undefined for this run's ids and for anything else. Any key gets the same
   * answer: an id of a run that is gone names nothing any key holds now.
   */
  readonly otherRun: (id: string) => string | undefined
  /**
   * The 404 message for `what` (`request_id`, `model_id`, ...) `id` of another run; `lastState`
   * names the checkpoint to load again, when known (the last state a lost model saved).
   */
  readonly lostState: (what: string, id: string, otherRun: string, lastState?: string) => string
  /** The 404 message for an unknown `what` `id`: {@link lostState}'s if another run issued it, else `plain`. */
  readonly unknown: (what: string, id: string, plain: string, lastState?: string) => string
}

const markerPattern = /^([0-9a-f]{12})-/

/** A new run with a random marker. */
export const makeServerInstance = (now: number = Date.now()): ServerInstance => {
  const id = randomBytes(6).toString("hex")
  const otherRun = (text: string): string | undefined => {
    const marker = markerPattern.exec(text)?.[1]
    return marker === undefined || marker === id ? undefined : marker
  }
  // What to run is spelled in the SDK's words. create_training_client_from_state would need the
  // lost model's settings (weights_info), so the advice is to create the client and load the state.
  const lostState = (what: string, text: string, other: string, lastState = "tinker://<model_id>/weights/<name>") =>
    `${what} ${JSON.stringify(text)} was issued by another run of this server (instance ${other}); this one ` +
    `(instance ${id}, started ${new Date(now).toISOString()}) does not have it: the server restarted, or another ` +
    "server answered, and the state of in-flight requests, training models and sampling sessions was lost. " +
    "Saved checkpoints remain in its state directory: create the training client again " +
    "(service_client.create_lora_training_client(...)), load your last saved state into it " +
    `(training_client.load_state(${JSON.stringify(lastState)})) and resubmit what had not finished; ` +
    "make sampling clients again with service_client.create_sampling_client(model_path=\"tinker://...\")."
  const unknown = (what: string, text: string, plain: string, lastState?: string) => {
    const other = otherRun(text)
    return other === undefined ? plain : lostState(what, text, other, lastState)
  }
  return { id, startedAt: now, sessionId: () => `${id}-${randomUUID()}`, otherRun, lostState, unknown }
}
