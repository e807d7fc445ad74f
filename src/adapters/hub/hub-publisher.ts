import { Effect, Layer } from "effect"
import { Hub, HubError, type HubFile } from "../../ports/index.js"
import { checkBlobKey } from "../blob/blob-key.js"
import { type HubAccessOptions, makeHubClient } from "./hub-client.js"
import { addOperations, commitToHub, ensureRepo } from "./hub-repo.js"
import type { HubRequestError } from "./hub-request-error.js"
import { parseHubUri } from "./hub-uri.js"

/** How the publisher reaches the Hub, and how it creates a repo that does not exist yet. */
export interface HubPublisherOptions extends HubAccessOptions {
  /** Whether a repo the publisher creates is private; default `true`. An existing repo keeps its visibility. */
  readonly private?: boolean
}

const toHubError = (repo: string) => Effect.mapError((error: HubRequestError) => new HubError({ repo, message: error.message, cause: error }))

/**
 * The {@link Hub} port on the Hugging Face Hub. `publish("hf://user/name", files, message)`
 * creates the repo when it is missing (private unless `private: false`) and commits every
 * file in one commit, so readers see the whole release or none of it. Paths follow the
 * blob-key rules. A token (option or `HF_TOKEN`) with write access is needed.
 */
export const makeHubPublisher = (options: HubPublisherOptions = {}): Hub["Service"] =>
  Hub.of({
    publish: Effect.fn("HubPublisher.publish")(function*(repo: string, files: ReadonlyArray<HubFile>, message: string) {
      const location = yield* parseHubUri(repo).pipe(toHubError(repo))
      if (location.path !== "") {
        return yield* new HubError({ repo, message: `publish to a repo (hf://user/name), not to a folder of one (${location.path})` })
      }
      if (files.length === 0) return yield* new HubError({ repo, message: "nothing to publish: no files were given" })
      yield* Effect.forEach(files, ({ path }) =>
        checkBlobKey(path).pipe(
          Effect.mapError((unsafe) => new HubError({ repo, message: `cannot publish ${JSON.stringify(unsafe.key)}: ${unsafe.reason}`, cause: unsafe }))
        ))
      const client = yield* makeHubClient(location, options).pipe(toHubError(repo))
      yield* ensureRepo(client, options).pipe(toHubError(repo))
      const commit = yield* commitToHub(client, message, addOperations(files)).pipe(toHubError(repo))
      return { repo: client.uri, commit }
    })
  })

/** A layer with the Hugging Face {@link Hub}; see {@link makeHubPublisher}. */
export const hubPublisherLayer = (options: HubPublisherOptions = {}): Layer.Layer<Hub> => Layer.succeed(Hub, makeHubPublisher(options))
