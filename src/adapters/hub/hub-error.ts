import { Schema } from "effect"

/**
 * A Hugging Face Hub request failed, or a Hub location is malformed. `uri` names the repo
 * (`hf://user/repo`, `hf://datasets/user/repo`) and `status` the HTTP status when the Hub
 * answered. The message never holds the access token.
 */
export class HubError extends Schema.TaggedError<HubError>()("HubError", {
  operation: Schema.String,
  uri: Schema.String,
  status: Schema.optionalKey(Schema.Int),
  message: Schema.String
}) {}
