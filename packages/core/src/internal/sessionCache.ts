/** @internal */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import * as Readiness from "../Readiness.js"
import type { MemoryOptions, Session, SessionCacheService, SessionKey } from "../SessionCache.js"
import type { EngineSession, TlsEngine } from "../TlsEngine.js"
import type { ResolvedClient } from "../TlsOptions.js"
import * as deadline from "./deadline.js"

const DEFAULT_CAPACITY = 1024
const DEFAULT_PER_KEY = 4
const DEFAULT_MAX_LIFETIME = Duration.hours(2)

const positive = (n: number | undefined, fallback: number) =>
  n !== undefined && Number.isInteger(n) && n > 0 ? n : fallback

/** The in-memory cache, synchronous at its core (`now` in epoch milliseconds). @internal */
export const makeMemoryUnsafe = (options?: MemoryOptions) => {
  const capacity = positive(options?.capacity, DEFAULT_CAPACITY)
  const perKey = Math.min(positive(options?.perKey, DEFAULT_PER_KEY), capacity)
  const maxLifetime = Duration.toMillis(
    options?.maxLifetime === undefined ? DEFAULT_MAX_LIFETIME : Duration.decode(options.maxLifetime)
  )
  /** Per key, oldest first; the Map's order is least recently used first. */
  const entries = new Map<string, Array<Session>>()
  let size = 0
  const live = (id: string, now: number): Array<Session> | undefined => {
    const list = entries.get(id)
    if (list === undefined) return undefined
    const kept = list.filter((s) => s.expiresAt > now)
    size -= list.length - kept.length
    if (kept.length === 0) {
      entries.delete(id)
      return undefined
    }
    entries.set(id, kept)
    return kept
  }
  const take = (id: string, now: number): Option.Option<Session> => {
    const list = live(id, now)
    if (list === undefined) return Option.none()
    // Most recently used key last.
    entries.delete(id)
    entries.set(id, list)
    const newest = list[list.length - 1]!
    if (newest.singleUse) {
      list.pop()
      size--
      if (list.length === 0) entries.delete(id)
    }
    return Option.some(newest)
  }
  const put = (id: string, session: Session, now: number): void => {
    const expiresAt = Math.min(session.expiresAt, now + maxLifetime)
    if (expiresAt <= now) return
    const list = live(id, now) ?? []
    entries.delete(id)
    list.push(expiresAt === session.expiresAt ? session : { ...session, expiresAt })
    size++
    while (list.length > perKey) {
      list.shift()
      size--
    }
    entries.set(id, list)
    // Over capacity: the least recently used keys lose their oldest sessions.
    for (const [other, sessions] of entries) {
      if (size <= capacity) break
      while (sessions.length > 0 && size > capacity) {
        sessions.shift()
        size--
      }
      if (sessions.length === 0) entries.delete(other)
    }
  }
  const service: SessionCacheService = {
    take: (key) => Effect.map(Clock.currentTimeMillis, (now) => take(key.id, now)),
    put: (key, session) => Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.sync(() => put(key.id, session, now)))
  }
  return service
}

/** @internal */
export const makeMemory = (options?: MemoryOptions): Effect.Effect<SessionCacheService> =>
  Effect.sync(() => makeMemoryUnsafe(options))

/** @internal */
export const disabled: SessionCacheService = {
  take: () => Effect.succeedNone,
  put: () => Effect.void
}

/** @internal */
export const key = (options: ResolvedClient, host: string, port: number | undefined): SessionKey => ({
  id: JSON.stringify([
    "effect-tls/session/1",
    host,
    port ?? null,
    options.sni ?? null,
    options.verifyHost,
    options.verify,
    options.alpnProtocols,
    options.ca ?? null,
    options.crl ?? null,
    options.certChain ?? null,
    options.minVersion,
    options.maxVersion,
    options.ciphers ?? null
  ]),
  host,
  port,
  serverName: options.sni
})

/** What a session the engine gave is kept as. */
const toSession = (session: EngineSession, now: number): Session => ({
  data: Redacted.make(session.data),
  // A session without a lifetime of its own is kept as long as the cache allows.
  expiresAt: session.lifetimeSeconds === undefined ? Number.MAX_SAFE_INTEGER : now + session.lifetimeSeconds * 1000,
  singleUse: session.singleUse
})

/**
 * A session for `key` that has not expired, as bytes for the engine; a
 * cache that dies answers none.
 * @internal
 */
export const offer = (cache: SessionCacheService, key: SessionKey): Effect.Effect<Uint8Array | undefined> =>
  cache.take(key).pipe(
    Effect.zip(Clock.currentTimeMillis),
    Effect.map(([session, now]) =>
      Option.isSome(session) && session.value.expiresAt > now ? Redacted.value(session.value.data) : undefined
    ),
    Effect.catchAllCause(() => Effect.succeed(undefined))
  )

/**
 * File every session the engine reports under `key`, each in a fiber of
 * its own (the engine reports them synchronously, also while the
 * connection closes). Closing the scope waits for the ones on their way.
 * @internal
 */
export const attach = (
  engine: TlsEngine,
  cache: SessionCacheService,
  key: SessionKey
): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    const onSession = engine.onSession
    if (onSession === undefined) return
    const runFork = Runtime.runFork(yield* deadline.connectionRuntime)
    let pending = 0
    const settled = Readiness.make()
    onSession((session) => {
      pending++
      runFork(
        Effect.flatMap(Clock.currentTimeMillis, (now) => cache.put(key, toSession(session, now))).pipe(
          Effect.catchAllCause(() => Effect.logDebug("TLS session cache: a session could not be kept")),
          Effect.ensuring(Effect.sync(() => {
            pending--
            settled.signal()
          }))
        )
      )
    })
    // A plain finalizer (see `resource.ts`): it reads no FiberRef.
    yield* Scope.addFinalizer(yield* Effect.scope, settled.until(() => pending === 0))
  })
