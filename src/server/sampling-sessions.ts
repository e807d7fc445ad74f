import { Deferred, Effect, Exit, Schema, Scope } from "effect"
import type { MemoryEstimate } from "../adapters/local/index.js"
import type { BackendUnavailableError, SamplingClient, TrainingCallError } from "../ports/index.js"
import type { Tenant } from "./api-keys.js"
import { makeTimeline, type Timeline } from "./future-runner.js"
import { BudgetRefusal, type ResourceBudget } from "./resource-budget.js"

type Client = SamplingClient["Service"]

/** A freed sampling session that cannot be built again: its weights are gone (the message says what to do). */
export class SamplerGone extends Schema.TaggedError<SamplerGone>()("SamplerGone", { message: Schema.String }) {}

/** A sampling session the key does not have: never made, expired, or another key's. */
export class SamplerUnknown extends Schema.TaggedError<SamplerUnknown>()("SamplerUnknown", {}) {}

/** Why a session could not be built. */
export type SamplerBuildError = TrainingCallError | BackendUnavailableError | BudgetRefusal | SamplerGone

/** A sampling session to open: its id, whose it is, what it will hold, and how to build it again. */
export interface SamplerRequest {
  readonly id: string
  readonly tenant: Tenant
  readonly estimate: MemoryEstimate
  /** How long it may stay idle before it is forgotten; the server's idle time to live if not given. */
  readonly ttlMs?: number | undefined
  /**
   * Builds the client again after the session was freed to make room for others, reading its
   * weights anew; fails with {@link SamplerGone} when they are gone (a checkpoint deleted or
   * overwritten). The Python SDK never makes a new sampling client for a session it holds, so a
   * freed session must come back on its next use.
   */
  readonly rebuild: Effect.Effect<Client, SamplerBuildError, Scope.Scope>
  /** Deletes what `rebuild` reads (a file of its own), once the session is forgotten for good. */
  readonly forget: Effect.Effect<void>
  /**
   * For a session whose weights are a file of its own (`forget` deletes it): what it answers
   * once freed and its file deleted to bound the disk (see {@link keptFilesPerSampler}).
   */
  readonly dropped?: string | undefined
}

/**
 * Freed sessions with files of their own that a key keeps, per session of its quota: an RL
 * loop that makes a sampler of its weights every step never uses the old ones again, and each
 * holds a file the size of the model.
 */
export const keptFilesPerSampler = 4

/**
 * The sampling sessions of a server. At most each key's quota of them is loaded at once (and
 * within the memory budget): beyond it the key's least recently used idle ones are freed,
 * and built again from what they sample when next used. A session unused for its time to
 * live is forgotten.
 */
export interface SamplingSessions {
  /**
   * The session `request.id`, built by `make` (in a scope of its own) the first time; copies
   * of one request arriving together share one build. A failed build is forgotten, so it can
   * be retried. Its memory is held in the budget while it is loaded; when the budget has no
   * room, the key's idle sessions are freed, least recently used first, and if that is not
   * enough it fails with a {@link BudgetRefusal} that names the limit.
   */
  readonly open: (request: SamplerRequest, make: Effect.Effect<Client, SamplerBuildError, Scope.Scope>) => Effect.Effect<Client, SamplerBuildError>
  /**
   * Holds the session `id` of `owner` (a key's name) for a request, building it again first if
   * it was freed: its client (and the timeline of its calls) is not freed until `release` runs.
   */
  readonly acquire: (id: string, owner: string) => Effect.Effect<HeldSession, SamplerUnknown | SamplerBuildError>
  /** Forgets the idle sessions unused for longer than their time to live (`defaultTtlMs` unless they set one). */
  readonly expire: (now: number, defaultTtlMs: number) => Effect.Effect<void>
  /** Sessions loaded (or being built) now. */
  readonly size: () => number
}

/** A sampling session held by a request. */
export interface HeldSession {
  readonly client: Client
  readonly timeline: Timeline
  /** Lets the session be freed again; only the first call counts. */
  readonly release: Effect.Effect<void>
}

/** A session's client, while it is loaded or being built. */
interface Loaded {
  readonly scope: Scope.Closeable
  readonly client: Deferred.Deferred<Client, SamplerBuildError>
  /** The client, once built. */
  built?: Client
  readonly timeline: Timeline
  inUse: number
}

interface Session {
  readonly request: SamplerRequest
  /** None while freed to make room. */
  loaded: Loaded | undefined
  /** Order of last use, for least recently used first. */
  lastUsed: number
  /** Time of last use (ms since the epoch), for the time to live. */
  lastUsedAt: number
  /** Set once its own file was deleted while it was freed: it cannot be built again. */
  dropped?: SamplerGone
}

/**
 * Sessions whose scopes are children of `parent` (closed with the server), their memory held
 * in `budget`. A session that is sampling is never freed under it.
 */
export const makeSamplingSessions = (parent: Scope.Scope, budget: ResourceBudget): SamplingSessions => {
  const sessions = new Map<string, Session>()
  let clock = 0

  const touch = (session: Session) => {
    session.lastUsed = ++clock
    session.lastUsedAt = Date.now()
  }

  // Deletes the files of a key's freed sessions beyond what it keeps, least recently used first.
  const dropFiles = (tenant: Tenant) =>
    Effect.suspend(() => {
      const freed = [...sessions.values()].filter((session) =>
        session.request.tenant.name === tenant.name && session.request.dropped !== undefined && session.loaded === undefined &&
        session.dropped === undefined
      ).sort((a, b) => b.lastUsed - a.lastUsed)
      const dropped = freed.slice(keptFilesPerSampler * tenant.quota.maxSamplers)
      for (const session of dropped) session.dropped = new SamplerGone({ message: session.request.dropped ?? "" })
      return Effect.forEach(dropped, (session) => session.request.forget, { discard: true })
    })

  // Frees the clients of `freed`; the sessions stay, to be built again when used.
  const unload = (freed: ReadonlyArray<Session>) =>
    Effect.forEach(freed, (session) => {
      const loaded = session.loaded
      session.loaded = undefined
      return loaded === undefined ? Effect.void : Effect.andThen(Scope.close(loaded.scope, Exit.void), dropFiles(session.request.tenant))
    }, { discard: true })

  const loadedOf = (owner: string) => [...sessions.values()].filter((session) => session.request.tenant.name === owner && session.loaded !== undefined)

  // The idle built sessions of a key, least recently used first.
  const idleOf = (owner: string) =>
    loadedOf(owner).filter((session) => session.loaded?.built !== undefined && session.loaded.inUse === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed)

  const evict = (tenant: Tenant) =>
    Effect.suspend(() => unload(idleOf(tenant.name).slice(0, Math.max(0, loadedOf(tenant.name).length - tenant.quota.maxSamplers))))

  // Holds the memory of a session, freeing the key's idle ones while the budget is short.
  const reserve = (request: SamplerRequest): Effect.Effect<() => void, BudgetRefusal> =>
    Effect.gen(function*() {
      while (true) {
        const reservation = budget.reserve(request.tenant, "sampler", request.estimate, "create_sampling_session")
        if (typeof reservation !== "string") return reservation.release
        const oldest = idleOf(request.tenant.name)[0]
        if (oldest === undefined) return yield* new BudgetRefusal({ message: reservation })
        yield* unload([oldest])
      }
    })

  // Marks `session` as loading at once (so requests arriving together share one build).
  const begin = (session: Session): Loaded => {
    const loaded: Loaded = { scope: Scope.forkUnsafe(parent), client: Deferred.makeUnsafe(), timeline: makeTimeline(), inUse: 0 }
    session.loaded = loaded
    return loaded
  }

  // Builds `loaded` with `make`; a failure settles its client and frees the slot (`forgetOnFailure`: the session too).
  const build = (session: Session, loaded: Loaded, make: Effect.Effect<Client, SamplerBuildError, Scope.Scope>, forgetOnFailure: boolean) =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(Effect.gen(function*() {
        // Room first (the new one counts, and is not idle), so that no more than the quota are ever built.
        yield* evict(session.request.tenant)
        const release = yield* reserve(session.request)
        // However the client ends (freed, expired, a failed build, the server closing), its memory is given back.
        yield* Scope.addFinalizer(loaded.scope, Effect.sync(release))
        return yield* Scope.provide(make, loaded.scope)
      }))
      if (Exit.isSuccess(exit)) {
        loaded.built = exit.value
        Deferred.doneUnsafe(loaded.client, exit)
        return yield* evict(session.request.tenant)
      }
      if (session.loaded === loaded) session.loaded = undefined
      Deferred.doneUnsafe(loaded.client, exit)
      yield* Scope.close(loaded.scope, exit)
      if (forgetOnFailure && sessions.get(session.request.id) === session) {
        sessions.delete(session.request.id)
        yield* session.request.forget
      }
    }).pipe(
      // A build that started finishes even if the request that started it goes away.
      Effect.uninterruptible
    )

  const open = (request: SamplerRequest, make: Effect.Effect<Client, SamplerBuildError, Scope.Scope>) =>
    Effect.suspend(() => {
      const existing = sessions.get(request.id)
      if (existing !== undefined && existing.request.tenant.name === request.tenant.name) {
        touch(existing)
        if (existing.loaded !== undefined) return Deferred.await(existing.loaded.client)
        const loaded = begin(existing)
        return Effect.andThen(build(existing, loaded, make, false), Deferred.await(loaded.client))
      }
      const session: Session = { request, loaded: undefined, lastUsed: ++clock, lastUsedAt: Date.now() }
      sessions.set(request.id, session)
      const loaded = begin(session)
      return Effect.andThen(build(session, loaded, make, true), Deferred.await(loaded.client))
    })

  const acquire = (id: string, owner: string) =>
    Effect.suspend((): Effect.Effect<HeldSession, SamplerUnknown | SamplerBuildError> => {
      const session = sessions.get(id)
      if (session === undefined || session.request.tenant.name !== owner) return Effect.fail(new SamplerUnknown())
      if (session.dropped !== undefined) return Effect.fail(session.dropped)
      touch(session)
      const fresh = session.loaded === undefined
      const loaded = session.loaded ?? begin(session)
      // Held before it is built, so that the build's own eviction cannot free it.
      loaded.inUse += 1
      let released = false
      const release = Effect.suspend(() => {
        if (released) return Effect.void
        released = true
        loaded.inUse -= 1
        session.lastUsedAt = Date.now()
        return evict(session.request.tenant)
      })
      return (fresh ? build(session, loaded, session.request.rebuild, false) : Effect.void).pipe(
        Effect.andThen(Deferred.await(loaded.client)),
        Effect.map((client): HeldSession => ({ client, timeline: loaded.timeline, release })),
        Effect.tapError(() => release)
      )
    })

  const expire = (now: number, defaultTtlMs: number) =>
    Effect.suspend(() => {
      const expired = [...sessions.values()].filter((session) =>
        (session.loaded === undefined || (session.loaded.built !== undefined && session.loaded.inUse === 0)) &&
        now - session.lastUsedAt > (session.request.ttlMs ?? defaultTtlMs)
      )
      for (const session of expired) sessions.delete(session.request.id)
      return unload(expired).pipe(Effect.andThen(Effect.forEach(expired, (session) => session.request.forget, { discard: true })))
    })

  return { open, acquire, expire, size: () => [...sessions.values()].filter((session) => session.loaded !== undefined).length }
}
