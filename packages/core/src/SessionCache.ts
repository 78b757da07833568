/**
 * Client sessions kept for resumption: a client that connects again to the
 * same server offers a session (a TLS 1.3 ticket, a TLS 1.2 session ticket
 * or session id) and skips the certificate signature and chain check.
 *
 * Resumption is on by default: a `Tls` service made by a runtime layer
 * keeps its own in-memory cache (`makeMemory` with its defaults), used by
 * every client connection of that service that finds no `SessionCache` in
 * its context. Provide `layerMemory` (other bounds), your own service (a
 * cache shared by several processes, see `make`), or `layerDisabled` (no
 * resumption) to change that.
 *
 * Sessions are filed under a `SessionKey` that holds everything a session
 * must not cross: the host and port, the server name, the ALPN offer, the
 * trust settings (`ca`, `crl`, `verify`, the name verified), the client
 * certificate and the versions and ciphers. A session made under one set
 * of trust settings is never offered under another.
 *
 * Session data is a secret (it holds the resumption secret): it stays in
 * `Redacted` and is never logged. A shared store should keep it as
 * carefully as a private key.
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/sessionCache.js"
import type { ResolvedClient } from "./TlsOptions.js"

/**
 * One resumable session, as the runtime's TLS library encoded it.
 *
 * @since 0.3.0
 * @category models
 */
export interface Session {
  /** The encoded session (OpenSSL's or BoringSSL's `SSL_SESSION` in DER). */
  readonly data: Redacted.Redacted<Uint8Array>
  /** When the session stops being offered (epoch milliseconds, by the `Clock`). */
  readonly expiresAt: number
  /**
   * A TLS 1.3 ticket, used for one connection only (RFC 8446 C.4):
   * `take` removes it. A TLS 1.2 session stays until it expires.
   */
  readonly singleUse: boolean
}

/**
 * What a session is filed under.
 *
 * @since 0.3.0
 * @category models
 */
export interface SessionKey {
  /**
   * Everything the session must not cross, as one exact string (the trust
   * settings' PEM text included, so it can be long): compare it whole, or
   * use a cryptographic digest of it as a store's key.
   */
  readonly id: string
  /** The host connected to (or the transport's remote address for `upgrade`). */
  readonly host: string
  readonly port: number | undefined
  /** The SNI name sent, if any. */
  readonly serverName: string | undefined
}

/**
 * @since 0.3.0
 * @category models
 */
export interface SessionCacheService {
  /**
   * A session to offer for `key`, the newest first; single-use sessions are
   * removed by this call. A cache that cannot answer (its store failed)
   * answers `None`: the connection then makes a full handshake.
   */
  readonly take: (key: SessionKey) => Effect.Effect<Option.Option<Session>>
  /** Keep a session the server gave for `key` (a connection may give several). */
  readonly put: (key: SessionKey, session: Session) => Effect.Effect<void>
}

/**
 * @since 0.3.0
 * @category tags
 */
export class SessionCache extends Context.Tag("@effect-tls/core/SessionCache")<SessionCache, SessionCacheService>() {}

/**
 * Bounds of the in-memory cache.
 *
 * @since 0.3.0
 * @category models
 */
export interface MemoryOptions {
  /** Sessions kept in all; the least recently used keys go first. Default 1024. */
  readonly capacity?: number | undefined
  /** Sessions kept per key, the newest. Default 4 (TLS 1.3 servers send two per connection). */
  readonly perKey?: number | undefined
  /**
   * The longest a session is kept, whatever lifetime the server gave it.
   * Default 2 hours. Sessions are kept for the lifetime the server gave
   * (TLS 1.3 `ticket_lifetime`, the session's timeout) when shorter.
   */
  readonly maxLifetime?: Duration.DurationInput | undefined
}

/**
 * An in-memory cache, bounded by count and by lifetime (read from the
 * `Clock`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeMemory: (options?: MemoryOptions) => Effect.Effect<SessionCacheService> = internal.makeMemory

/**
 * A `SessionCache` of its own, in memory.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerMemory = (options?: MemoryOptions): Layer.Layer<SessionCache> =>
  Layer.effect(SessionCache, makeMemory(options))

/**
 * A cache that keeps nothing: every connection makes a full handshake.
 *
 * @since 0.3.0
 * @category constructors
 */
export const disabled: SessionCacheService = internal.disabled

/**
 * Turn client resumption off.
 *
 * @since 0.3.0
 * @category layers
 */
export const layerDisabled: Layer.Layer<SessionCache> = Layer.succeed(SessionCache, disabled)

/**
 * A cache from its two operations, for a store shared by several
 * processes. A sketch over `KeyValueStore` from `@effect/platform`
 * (sessions encoded as base64 JSON; a digest of `key.id` as the store's
 * key; store failures answer `None` or are dropped):
 *
 * ```ts
 * const shared = (store: KeyValueStore.KeyValueStore, digest: (id: string) => string) =>
 *   SessionCache.make({
 *     take: (key) => store.get(digest(key.id)).pipe(
 *       Effect.flatMap(Option.match({
 *         onNone: () => Effect.succeedNone,
 *         onSome: (text) => {
 *           const s = JSON.parse(text)
 *           const session = { data: Redacted.make(Buffer.from(s.data, "base64")), expiresAt: s.expiresAt, singleUse: s.singleUse }
 *           return Effect.as(s.singleUse ? store.remove(digest(key.id)) : Effect.void, Option.some(session))
 *         }
 *       })),
 *       Effect.orElseSucceed(Option.none)
 *     ),
 *     put: (key, session) => store.set(digest(key.id), JSON.stringify({
 *       data: Buffer.from(Redacted.value(session.data)).toString("base64"),
 *       expiresAt: session.expiresAt,
 *       singleUse: session.singleUse
 *     })).pipe(Effect.ignore)
 *   })
 * ```
 *
 * A whole, tested version is in the repository's tests
 * (`test/sessions/kvSessionCache.ts`).
 *
 * @since 0.3.0
 * @category constructors
 */
export const make = (service: SessionCacheService): SessionCacheService => service

/**
 * The key a client connection files its sessions under.
 *
 * @since 0.3.0
 * @category keys
 */
export const key: (
  options: ResolvedClient,
  host: string,
  port: number | undefined
) => SessionKey = internal.key
