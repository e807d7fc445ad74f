/**
 * The checkpoints of a run for `sous report`: the committed ones (a `manifest.json`) found in
 * the run's local checkpoint stores, and those its `checkpoint` events name in a store this
 * report cannot read (S3, the Hub, a directory since removed), which are listed without size.
 */
import { readdir } from "node:fs/promises"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Effect } from "effect"
import { messageOf } from "../../ports/thrown-message.js"
import { isJsonObject, type JsonObject, readOptionalJsonObject } from "./read-json.js"
import { type ReportError, reportError } from "./report-error.js"

/** One checkpoint of a run. */
export interface CheckpointRow {
  readonly name: string
  /** The optimizer step it was taken after. */
  readonly step: number | undefined
  /** Bytes of its blobs (weights and optimizer state); undefined when its manifest was not found. */
  readonly bytes: number | undefined
  /** When its manifest was committed (ISO 8601). */
  readonly createdAt: string | undefined
  /** Its `manifest.json`, or the store its event names when the manifest was not found. */
  readonly location: string
}

/** The local directory of a store URI (`file://` or a path), or undefined for a remote one. */
const localStore = (uri: string): string | undefined => {
  if (uri.startsWith("file://")) return fileURLToPath(uri)
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(uri) ? undefined : uri
}

const numberOr = (value: unknown): number | undefined => (typeof value === "number" && Number.isFinite(value) ? value : undefined)

const blobBytes = (manifest: JsonObject): number | undefined => {
  const blobs = manifest["blobs"]
  if (!Array.isArray(blobs)) return undefined
  return blobs.reduce<number>((sum, blob) => sum + (isJsonObject(blob) ? numberOr(blob["bytes"]) ?? 0 : 0), 0)
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException | undefined)?.code === "ENOENT"

/** The names of the sub-directories of `store`; none when it does not exist. */
const checkpointNames = (store: string): Effect.Effect<ReadonlyArray<string>, ReportError> =>
  Effect.tryPromise({
    try: () =>
      readdir(store, { withFileTypes: true }).then(
        (entries) => entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort(),
        (error: unknown) => (isMissing(error) ? [] : Promise.reject(error))
      ),
    catch: (error) => reportError(store, `cannot list the checkpoints: ${messageOf(error)}`, { cause: error })
  })

/** The committed checkpoints of a local store; a directory without a manifest never committed. */
const storeCheckpoints = (store: string): Effect.Effect<ReadonlyArray<CheckpointRow>, ReportError> =>
  Effect.flatMap(checkpointNames(store), (names) =>
    Effect.map(
      Effect.forEach(names, (name) => {
        const path = join(store, name, "manifest.json")
        return Effect.map(readOptionalJsonObject(path, "checkpoint manifest"), (manifest): ReadonlyArray<CheckpointRow> =>
          manifest === undefined ? [] : [{
            name,
            step: numberOr(manifest["step"]),
            bytes: blobBytes(manifest),
            createdAt: typeof manifest["createdAt"] === "string" ? manifest["createdAt"] : undefined,
            location: path
          }])
      }),
      (rows) => rows.flat()
    ))

/** What a `checkpoint` event says: the checkpoint's name and step, and its store's URI. */
interface CheckpointEvent {
  readonly name: string
  readonly step: number | undefined
  readonly store: string | undefined
}

const checkpointEvents = (events: ReadonlyArray<JsonObject>): ReadonlyArray<CheckpointEvent> =>
  events.flatMap((event) => {
    const data = event["data"]
    if (event["name"] !== "checkpoint" || !isJsonObject(data) || typeof data["name"] !== "string") return []
    return [{ name: data["name"], step: numberOr(event["step"]), store: typeof data["store"] === "string" ? data["store"] : undefined }]
  })

/**
 * The checkpoints of the run in `dir`, by step: those committed in `<dir>/checkpoints`, in
 * the recipe's `checkpoint.uri` when it is local, and in the local stores its events name
 * (a directory moved since the run still finds its own `checkpoints/`); then those its
 * events name that none of these holds. A malformed manifest fails with its path.
 */
export const readCheckpoints = (
  dir: string,
  recipe: JsonObject,
  events: ReadonlyArray<JsonObject>
): Effect.Effect<ReadonlyArray<CheckpointRow>, ReportError> => {
  const named = checkpointEvents(events)
  const section = recipe["checkpoint"]
  const recipeStore = isJsonObject(section) && typeof section["uri"] === "string" ? section["uri"] : undefined
  const stores = [
    ...new Set([join(dir, "checkpoints"), ...[recipeStore, ...named.map((event) => event.store)].flatMap((uri) => {
      const local = uri === undefined ? undefined : localStore(uri)
      return local === undefined ? [] : [local]
    })])
  ]
  return Effect.map(Effect.forEach(stores, storeCheckpoints), (found) => {
    const rows = new Map<string, CheckpointRow>()
    for (const row of found.flat()) if (!rows.has(row.name)) rows.set(row.name, row)
    for (const event of named) {
      if (!rows.has(event.name)) {
        rows.set(event.name, { name: event.name, step: event.step, bytes: undefined, createdAt: undefined, location: event.store ?? "unknown store" })
      }
    }
    return [...rows.values()].sort((a, b) => (a.step ?? Infinity) - (b.step ?? Infinity) || a.name.localeCompare(b.name))
  })
}
