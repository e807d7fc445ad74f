import { Deferred, Effect, Exit, Option, Scope } from "effect"
import type { SamplingClient } from "../ports/index.js"
import { makeTimeline, type Timeline } from "./future-runner.js"

type Client = SamplingClient["Service"]

/** The sampling sessions of a server, freed least recently used first beyond a limit. */
export interface SamplingSessions {
  /**
   * The session `id`, built by `make` (in a scope of its own) the first time; copies of one
   * request arriving together share one build. A failed build is forgotten, so it can be retried.
   */
  readonly open: <E>(id: string, make: Effect.Effect<Client, E, Scope.Scope>) => Effect.Effect<Client, E>
  /**
   * Holds the session `id` for a request: its client (and the timeline of its calls) is not
   * freed until `release` runs. None if there is no such session (never made, or freed).
   */
  readonly acquire: (id: string) => Option.Option<HeldSession>
  /** Sessions held now. */
  readonly size: () => number
}

/** A sampling session held by a request. */
export interface HeldSession {
  readonly client: Client
  readonly timeline: Timeline
  /** Lets the session be freed again; only the first call counts. */
  readonly release: Effect.Effect<void>
}

interface Entry {
  readonly scope: Scope.Closeable
  readonly client: Deferred.Deferred<Client, unknown>
  /** The client, once built. */
  built?: Client
  readonly timeline: Timeline
  inUse: number
  lastUsed: number
}

/**
 * Sessions whose scopes are children of `parent` (closed with the server), at most `limit`
 * of them built and idle-or-busy at once: when a session is added or finishes its work and
 * there are more, the least recently used idle ones are freed. A session that is sampling
 * is never freed under it.
 */
export const makeSamplingSessions = (parent: Scope.Scope, limit: number): SamplingSessions => {
  const entries = new Map<string, Entry>()
  let clock = 0

  const evict = Effect.suspend(() => {
    const idle = [...entries].filter(([, entry]) => entry.built !== undefined && entry.inUse === 0).sort(([, a], [, b]) => a.lastUsed - b.lastUsed)
    const excess = entries.size - limit
    const freed = idle.slice(0, Math.max(0, excess))
    for (const [id] of freed) entries.delete(id)
    return Effect.forEach(freed, ([, entry]) => Scope.close(entry.scope, Exit.void), { discard: true })
  })

  const open = <E>(id: string, make: Effect.Effect<Client, E, Scope.Scope>): Effect.Effect<Client, E> =>
    Effect.suspend(() => {
      const existing = entries.get(id)
      if (existing !== undefined) {
        existing.lastUsed = ++clock
        return Deferred.await(existing.client) as Effect.Effect<Client, E>
      }
      const scope = Scope.forkUnsafe(parent)
      const entry: Entry = {
        scope,
        client: Deferred.makeUnsafe<Client, unknown>(),
        timeline: makeTimeline(),
        inUse: 0,
        lastUsed: ++clock
      }
      entries.set(id, entry)
      return make.pipe(
        Scope.provide(scope),
        Effect.onExit((exit) =>
          Exit.isSuccess(exit)
            ? Effect.sync(() => {
              entry.built = exit.value
              Deferred.doneUnsafe(entry.client, exit)
            }).pipe(Effect.andThen(evict))
            : Effect.sync(() => {
              if (entries.get(id) === entry) entries.delete(id)
              Deferred.doneUnsafe(entry.client, exit)
            }).pipe(Effect.andThen(Scope.close(scope, exit)))
        ),
        // A build that started finishes even if the request that started it goes away.
        Effect.uninterruptible
      )
    })

  const acquire = (id: string): Option.Option<HeldSession> => {
    const entry = entries.get(id)
    if (entry === undefined || entry.built === undefined) return Option.none()
    entry.inUse += 1
    entry.lastUsed = ++clock
    let released = false
    const release = Effect.suspend(() => {
      if (released) return Effect.void
      released = true
      entry.inUse -= 1
      return evict
    })
    return Option.some({ client: entry.built, timeline: entry.timeline, release })
  }

  return { open, acquire, size: () => entries.size }
}
