import { Schema } from "effect"

/**
 * A Hugging Face Hub request failed, or a Hub location is malformed: the adapters' own
 * error, which each of them turns into its port's error. `uri` names the repo
 * (`hf://user/repo`, `hf://datasets/user/repo`) and `status` the HTTP status when the Hub
 * answered, so a caller can tell a conflict (412) from other failures. The message never
 * holds the access token.
 */
export class HubRequestError extends Schema.TaggedError<HubRequestError>()("HubRequestError", {
  operation: Schema.String,
  uri: Schema.String,
  status: Schema.optionalKey(Schema.Int),
  message: Schema.String,
  /** The @huggingface/hub or fetch error, masked like the message, for `--verbose`. */
  cause: Schema.optional(Schema.Defect())
}) {}
