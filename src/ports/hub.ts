import { Context, type Effect } from "effect"
import type { HubError } from "./errors.js"

/** A file to publish: its path inside the repository and its bytes. */
export interface HubFile {
  readonly path: string
  readonly bytes: Uint8Array
}

/** Where a publish landed. */
export interface HubCommit {
  readonly repo: string
  readonly commit: string
}

/** A model hub (the Hugging Face Hub) that sous publishes trained models to. */
export class Hub extends Context.Service<Hub, {
  /**
   * Commits `files` to `repo` (`hf://user/name`) in one commit, creating the repository if
   * it is missing: readers see all of the files or none.
   */
  readonly publish: (
    repo: string,
    files: ReadonlyArray<HubFile>,
    message: string
  ) => Effect.Effect<HubCommit, HubError>
}>()("sous/ports/Hub") {}
