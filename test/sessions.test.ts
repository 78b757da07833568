/**
 * The session cache on its own (bounds by count and by lifetime, single
 * use, the key), the encoding facts read from real sessions, and a cache
 * shared through a `KeyValueStore` by two `Tls` services (as by two
 * processes).
 */
import { describe, expect, it } from "@effect/vitest"
import * as KeyValueStore from "@effect/platform/KeyValueStore"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as Tls from "@effect-tls/core/Tls"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as NodeTls from "@effect-tls/node/NodeTls"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import { Effect, Fiber, Layer, Option, Redacted, TestClock } from "effect"
import * as tls from "node:tls"
import { afterAll } from "vitest"
import * as KvSessionCache from "./sessions/kvSessionCache.js"
import { generatePki } from "./src/pki.js"
import { readUntil } from "./src/reading.js"

const pki = generatePki()
afterAll(() => pki.cleanup())

const keyOf = (options: Partial<TlsOptions.ClientOptions> = {}) =>
  Effect.map(
    TlsOptions.decodeClient({ host: "127.0.0.1", port: 4433, servername: "localhost", ca: pki.root.cert, ...options }),
    (resolved) => SessionCache.key(resolved, resolved.host, resolved.port)
  )

const session = (byte: number, expiresAt: number, singleUse = true): SessionCache.Session => ({
  data: Redacted.make(new Uint8Array([byte])),
  expiresAt,
  singleUse
})

const byteOf = (s: Option.Option<SessionCache.Session>) => Option.map(s, (x) => Redacted.value(x.data)[0])

describe("SessionCache.makeMemory", () => {
  it.effect("a single-use session is taken once, the newest first; a TLS 1.2 session stays", () =>
    Effect.gen(function*() {
      const cache = yield* SessionCache.makeMemory()
      const key = yield* keyOf()
      yield* cache.put(key, session(1, 60_000))
      yield* cache.put(key, session(2, 60_000))
      expect(byteOf(yield* cache.take(key))).toEqual(Option.some(2))
      expect(byteOf(yield* cache.take(key))).toEqual(Option.some(1))
      expect(yield* cache.take(key)).toEqual(Option.none())
      yield* cache.put(key, session(3, 60_000, false))
      expect(byteOf(yield* cache.take(key))).toEqual(Option.some(3))
      expect(byteOf(yield* cache.take(key))).toEqual(Option.some(3))
    }))

  it.effect("a session is gone once its lifetime or maxLifetime passed (by the Clock)", () =>
    Effect.gen(function*() {
      const cache = yield* SessionCache.makeMemory({ maxLifetime: "1 minute" })
      const key = yield* keyOf()
      yield* cache.put(key, session(1, 10_000, false))
      yield* cache.put(key, session(2, Number.MAX_SAFE_INTEGER, false))
      yield* TestClock.adjust("10 seconds")
      expect(byteOf(yield* cache.take(key))).toEqual(Option.some(2))
      yield* TestClock.adjust("50 seconds")
      expect(yield* cache.take(key)).toEqual(Option.none())
    }))

  it.effect("bounded by count: per key, and in all (least recently used keys first)", () =>
    Effect.gen(function*() {
      const cache = yield* SessionCache.makeMemory({ capacity: 3, perKey: 2 })
      const a = yield* keyOf({ port: 1 })
      const b = yield* keyOf({ port: 2 })
      for (const n of [1, 2, 3]) yield* cache.put(a, session(n, 60_000))
      yield* cache.put(b, session(9, 60_000))
      yield* cache.put(b, session(8, 60_000))
      // a kept its newest two (2, 3); then b's two pushed a's oldest out.
      expect(byteOf(yield* cache.take(a))).toEqual(Option.some(3))
      expect(yield* cache.take(a)).toEqual(Option.none())
      expect(byteOf(yield* cache.take(b))).toEqual(Option.some(8))
      expect(byteOf(yield* cache.take(b))).toEqual(Option.some(9))
    }))
})

describe("SessionCache.key", () => {
  it.effect("differs for every setting a session must not cross", () =>
    Effect.gen(function*() {
      const base = yield* keyOf()
      const variants = yield* Effect.all([
        keyOf({ host: "localhost" }),
        keyOf({ port: 4434 }),
        keyOf({ servername: "other.test" }),
        keyOf({ alpnProtocols: ["h2"] }),
        keyOf({ ca: [pki.root.cert, pki.otherRoot.cert] }),
        keyOf({ verify: false }),
        keyOf({ cert: pki.client.chain, key: pki.client.key }),
        keyOf({ maxVersion: "TLSv1.2" })
      ])
      for (const v of variants) expect(v.id).not.toBe(base.id)
      expect(new Set(variants.map((v) => v.id)).size).toBe(variants.length)
      expect((yield* keyOf()).id).toBe(base.id)
    }))

  it.effect("holds no private key", () =>
    Effect.gen(function*() {
      const key = yield* keyOf({ cert: pki.client.chain, key: pki.client.key })
      expect(key.id).not.toContain("PRIVATE KEY")
    }))
})

describe("NodeTlsEngine.toEngineSession", () => {
  /** The sessions node:tls's own client gets from node:tls's own server. */
  const sessionsFrom = (maxVersion: tls.SecureVersion) =>
    Effect.acquireUseRelease(
      Effect.async<tls.Server>((resume) => {
        const server = tls.createServer({ cert: pki.server.chain, key: pki.server.key, maxVersion, sessionTimeout: 120 }, (s) => {
          s.on("error", () => {})
          s.end("hi")
        })
        server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
      }),
      (server) =>
        Effect.async<Array<Buffer>>((resume) => {
          const got: Array<Buffer> = []
          const c = tls.connect({
            host: "127.0.0.1",
            port: (server.address() as { port: number }).port,
            servername: "localhost",
            ca: pki.root.cert
          })
          c.on("session", (s) => got.push(s))
          c.on("data", () => {})
          c.on("close", () => resume(Effect.succeed(got)))
        }),
      (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
    )

  it.effect("TLS 1.3 tickets are single-use, with the lifetime the server gave", () =>
    Effect.gen(function*() {
      const sessions = yield* sessionsFrom("TLSv1.3")
      expect(sessions.length).toBe(2)
      for (const s of sessions) {
        expect(NodeTlsEngine.toEngineSession(s)).toMatchObject({ singleUse: true, lifetimeSeconds: 120 })
      }
    }))

  it.effect("TLS 1.2 sessions are not single-use", () =>
    Effect.gen(function*() {
      const sessions = yield* sessionsFrom("TLSv1.2")
      expect(sessions.length).toBe(1)
      expect(NodeTlsEngine.toEngineSession(sessions[0]!)).toMatchObject({ singleUse: false, lifetimeSeconds: 120 })
    }))

  it("bytes that are no session say nothing (and are not thrown at)", () => {
    expect(NodeTlsEngine.toEngineSession(new Uint8Array([0x30, 0x05, 0x02, 0x01]))).toMatchObject({
      singleUse: false,
      lifetimeSeconds: undefined
    })
    expect(NodeTlsEngine.toEngineSession(new Uint8Array(0))).toMatchObject({ singleUse: false })
  })
})

describe("a SessionCache over KeyValueStore, shared", () => {
  it.scoped("a session kept through one cache resumes through another over the same store (as in two processes)", () =>
    Effect.gen(function*() {
      const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
      const once = Effect.gen(function*() {
        const accepted = yield* Effect.fork(Effect.scoped(Effect.flatMap(server.accept, (c) => c.write("hi"))))
        const reused = yield* Effect.scoped(Effect.gen(function*() {
          const c = yield* Tls.connect({
            host: "127.0.0.1",
            port: server.address.port,
            servername: "localhost",
            ca: pki.root.cert
          })
          yield* readUntil(c, "hi")
          return c.info.sessionReused
        }))
        yield* Fiber.join(accepted)
        return reused
      })
      // Two caches of their own keep apart...
      expect(yield* Effect.provide(once, SessionCache.layerMemory())).toBe(false)
      expect(yield* Effect.provide(once, SessionCache.layerMemory())).toBe(false)
      // ...two caches over one store do not (each `provide` builds its own cache).
      const store = yield* Layer.build(KeyValueStore.layerMemory)
      const overStore = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        Effect.provide(effect, KvSessionCache.layer.pipe(Layer.provide(Layer.succeedContext(store))))
      expect(yield* overStore(once)).toBe(false)
      expect(yield* overStore(once)).toBe(true)
    }).pipe(Effect.provide(NodeTls.layer)))
})
