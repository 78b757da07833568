/**
 * A `SessionCache` over `KeyValueStore` from `@effect/platform`: the shape
 * of a cache several processes share (a Redis- or file-backed store). Each
 * key's sessions are one JSON list (data in base64, newest last), under a
 * SHA-256 digest of the key's `id`. A store that fails answers `None` (a
 * full handshake) or drops the session; nothing about a session is logged.
 * (Two processes that take the same single-use ticket at once can both
 * offer it; a store with an atomic take closes that gap.)
 */
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as SessionCache from "@effect-tls/core/SessionCache"
import { Clock, Effect, Layer, Option, Redacted } from "effect"
import { createHash } from "node:crypto"

interface Stored {
  readonly data: string
  readonly expiresAt: number
  readonly singleUse: boolean
}

const storeKey = (key: SessionCache.SessionKey) => `tls-session:${createHash("sha256").update(key.id).digest("hex")}`

const decode = (text: string): Array<Stored> => {
  try {
    const parsed: unknown = JSON.parse(text)
    return Array.isArray(parsed) ? parsed as Array<Stored> : []
  } catch {
    return []
  }
}

export const make = (store: KeyValueStore.KeyValueStore, perKey = 4): SessionCache.SessionCacheService =>
  SessionCache.make({
    take: (key) =>
      Effect.gen(function*() {
        const name = storeKey(key)
        const now = yield* Clock.currentTimeMillis
        const list = decode(Option.getOrElse(yield* store.get(name), () => "[]")).filter((s) => s.expiresAt > now)
        const newest = list.at(-1)
        if (newest === undefined) return Option.none()
        if (newest.singleUse) list.pop()
        yield* list.length === 0 ? store.remove(name) : store.set(name, JSON.stringify(list))
        return Option.some<SessionCache.Session>({
          data: Redacted.make(new Uint8Array(Buffer.from(newest.data, "base64"))),
          expiresAt: newest.expiresAt,
          singleUse: newest.singleUse
        })
      }).pipe(Effect.orElseSucceed(Option.none)),
    put: (key, session) =>
      Effect.gen(function*() {
        const name = storeKey(key)
        const list = decode(Option.getOrElse(yield* store.get(name), () => "[]"))
        list.push({
          data: Buffer.from(Redacted.value(session.data)).toString("base64"),
          expiresAt: session.expiresAt,
          singleUse: session.singleUse
        })
        yield* store.set(name, JSON.stringify(list.slice(-perKey)))
      }).pipe(Effect.ignore)
  })

/** `SessionCache` from the `KeyValueStore` in context. */
export const layer: Layer.Layer<SessionCache.SessionCache, never, KeyValueStore.KeyValueStore> = Layer.effect(
  SessionCache.SessionCache,
  Effect.map(KeyValueStore.KeyValueStore, (store) => make(store))
)
