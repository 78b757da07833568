/**
 * Server ticket keys, against any runtime's `Tls` layer and path: two
 * listeners that share keys resume each other's sessions (both ends say
 * so), listeners with other keys do not (a full handshake, no error), a
 * rotated-out key still decrypts while it is kept and not after, and SNI
 * contexts and hot reload keep the keys. A runtime that cannot set ticket
 * keys (Bun) fails with `TlsConfigError` instead, on both paths.
 *
 * And `openssl s_client -sess_out` / `-sess_in` against our server, TLS 1.3
 * and 1.2: the second connection prints `Reused`, and a session whose
 * ticket was tampered with is a full handshake (`New`).
 *
 * The client's sessions go through a cache of the test's own (`pinned`):
 * it records every session the servers give and offers the one the test
 * picks, whatever the port (the default cache keys sessions by port, so
 * it would never offer one server's ticket to another).
 */
import { describe, expect, layer } from "@effect/vitest"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as SniResolver from "@effect-tls/core/SniResolver"
import * as TicketKeys from "@effect-tls/core/TicketKeys"
import * as Tls from "@effect-tls/core/Tls"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as Transport from "@effect-tls/core/Transport"
import { Effect, Fiber, type Layer, Option, Redacted, TestClock, TestContext } from "effect"
import { randomBytes } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { generatePki, type Pki } from "../src/pki.js"
import { spawnPeer, withPeers } from "../interop/peers.js"
import { round as sessionRound } from "../sessions/suite.js"

export interface TicketSuiteOptions {
  /** Options every connection gets (`allowTruncation`: the runtime's native path). */
  readonly common?: Partial<TlsOptions.CommonOptions>
  /** Whether the runtime sets ticket keys (Bun's node:tls cannot). */
  readonly ticketKeys: boolean
}

/** A client session cache that offers the session the test picks, and records every one it is given. */
export const pinned = () => {
  const given: Array<SessionCache.Session> = []
  let offer: SessionCache.Session | undefined
  const service = SessionCache.make({
    take: () => Effect.sync(() => Option.fromNullable(offer)),
    put: (_key, session) => Effect.sync(() => void given.push(session))
  })
  return {
    service,
    given,
    /** Offer the newest session given so far, from now on. */
    offerNewest: () => {
      offer = given.at(-1)
      expect(offer).toBeDefined()
    },
    forget: () => {
      offer = undefined
    }
  }
}


/**
 * Options that make a listener's native context its own: listeners with
 * equal options share one native context (core caches them by content),
 * and with it node:tls's random ticket keys. (The client offers no ALPN.)
 */
const distinct = (i: number): Partial<TlsOptions.ServerOptions> => ({ alpnProtocols: [`p${i}`] })

const key = () => Redacted.make(new Uint8Array(randomBytes(48)))

export const ticketSuite = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, suiteOptions: TicketSuiteOptions) => {
  const common = suiteOptions.common ?? {}
  let pki: Pki
  beforeAll(() => {
    pki = generatePki()
  })
  afterAll(() => pki?.cleanup())

  const listen = (extra: Partial<TlsOptions.ServerOptions> = {}) =>
    Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key, ...extra })

  /** One connection through `cache` (`round` of the session suite); whether each end resumed. */
  const round = (
    server: Tls.TlsServer,
    cache: SessionCache.SessionCacheService,
    client: Partial<TlsOptions.ClientOptions> = {}
  ) =>
    sessionRound(server, {
      ...common,
      host: "127.0.0.1",
      port: server.address.port,
      servername: "localhost",
      ca: [pki.root.cert, pki.otherRoot.cert],
      ...client
    }).pipe(Effect.provideService(SessionCache.SessionCache, cache))

  const RESUMED = { client: true, server: true }
  const FULL = { client: false, server: false }

  describe(`server ticket keys: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      if (suiteOptions.ticketKeys) {
        for (const version of ["TLSv1.3", "TLSv1.2"] as const) {
          it.scoped(`${version}: two listeners sharing a TicketKeys service resume each other's sessions`, () =>
            Effect.gen(function*() {
              const keys = yield* TicketKeys.makeRotating({ period: "1 hour" })
              const [one, two] = yield* Effect.all([
                listen({ maxVersion: version, ...distinct(1) }),
                listen({ maxVersion: version, ...distinct(2) })
              ]).pipe(
                Effect.provideService(TicketKeys.TicketKeys, keys)
              )
              const cache = pinned()
              expect(yield* round(one, cache.service)).toEqual(FULL)
              cache.offerNewest()
              expect(yield* round(two, cache.service)).toEqual(RESUMED)
              expect(yield* round(one, cache.service)).toEqual(RESUMED)
            }))
        }

        it.scoped("the same 48 bytes as the ticketKeys option: one listener resumes the other's session", () =>
          Effect.gen(function*() {
            const shared = key()
            const one = yield* listen({ ticketKeys: shared, ...distinct(1) })
            const two = yield* listen({ ticketKeys: shared, ...distinct(2) })
            const cache = pinned()
            expect(yield* round(one, cache.service)).toEqual(FULL)
            cache.offerNewest()
            expect(yield* round(two, cache.service)).toEqual(RESUMED)
          }))

        it.scoped("control: without ticketKeys, two listeners with distinct contexts do not resume each other's sessions", () =>
          Effect.gen(function*() {
            const one = yield* listen(distinct(1))
            const two = yield* listen(distinct(2))
            const cache = pinned()
            expect(yield* round(one, cache.service)).toEqual(FULL)
            cache.offerNewest()
            expect(yield* round(two, cache.service)).toEqual(FULL)
          }))

        it.scoped("other keys: the session is not resumed, a full handshake without an error", () =>
          Effect.gen(function*() {
            const one = yield* listen({ ticketKeys: key() })
            const two = yield* listen({ ticketKeys: key() })
            const cache = pinned()
            expect(yield* round(one, cache.service)).toEqual(FULL)
            cache.offerNewest()
            expect(yield* round(two, cache.service)).toEqual(FULL)
            // The server that made it still takes it.
            expect(yield* round(one, cache.service)).toEqual(RESUMED)
          }))

        it.scoped("upgrade in the server role takes ticketKeys too", () =>
          Effect.gen(function*() {
            const shared = key()
            const one = yield* listen({ ticketKeys: shared })
            const cache = pinned()
            expect(yield* round(one, cache.service)).toEqual(FULL)
            cache.offerNewest()
            // Over a memory pair: the server upgrades with the same key. (A
            // client upgrade resumes only over a transport with a remote
            // address: the pair's client end is given one.)
            const [a, b] = yield* Transport.makeMemoryPair()
            const serving = yield* Effect.fork(Tls.upgrade(b, {
              ...common,
              role: "server",
              cert: pki.server.chain,
              key: pki.server.key,
              ticketKeys: shared
            }))
            const client = yield* Tls.upgrade({ ...a, remoteAddress: "memory peer" }, {
              ...common,
              role: "client",
              servername: "localhost",
              ca: pki.root.cert
            }).pipe(Effect.provideService(SessionCache.SessionCache, cache.service))
            const server = yield* Fiber.join(serving)
            expect({ client: client.info.sessionReused, server: server.info.sessionReused }).toEqual(RESUMED)
          }))

        it.scoped("rotation: a ticket under the previous key still resumes; once out of the kept window, a full handshake", () =>
          Effect.gen(function*() {
            // The keys' clock is a TestClock of their own; the sockets run on the real one.
            const clock = (yield* Effect.provide(Effect.clock, TestContext.TestContext)) as TestClock.TestClock
            const rotating = yield* Effect.withClock(TicketKeys.makeRotating({ period: "1 hour", keep: 1 }), clock)
            const keys: TicketKeys.TicketKeysService = { keys: Effect.withClock(rotating.keys, clock) }
            const server = yield* listen({ ticketKeys: keys })
            const cache = pinned()
            expect(yield* round(server, cache.service)).toEqual(FULL)
            cache.offerNewest()
            const first = (yield* rotating.keys.pipe(Effect.withClock(clock))).current.name

            yield* clock.adjust("1 hour")
            const second = yield* Effect.withClock(rotating.keys, clock)
            expect(second.current.name).not.toBe(first)
            expect(second.accepted.map((k) => k.name)).toEqual([first])
            // Made under the previous key: still decrypts.
            const given = cache.given.length
            expect(yield* round(server, cache.service)).toEqual(RESUMED)
            // node:tls sends no new ticket after a resumed handshake (its ticket
            // callback never asks OpenSSL to renew), so nothing is reissued
            // under the old key.
            expect(cache.given.length).toBe(given)
            // A full handshake now gets tickets under the current key.
            cache.forget()
            expect(yield* round(server, cache.service)).toEqual(FULL)
            const underSecond = cache.given.at(-1)!

            yield* clock.adjust("1 hour")
            // The first key is out of the window (keep: 1): a full handshake, no error.
            expect(yield* round(server, cache.service)).toEqual(FULL)
            // The second is kept: its ticket resumes.
            cache.forget()
            cache.given.push(underSecond)
            cache.offerNewest()
            expect(yield* round(server, cache.service)).toEqual(RESUMED)
          }))

        it.scoped("an SNI resolver's contexts use the shared keys too", () =>
          Effect.gen(function*() {
            const shared = yield* TicketKeys.makeRotating({ period: "1 hour" })
            // The other root's localhost certificate, picked by the resolver.
            const resolver = yield* SniResolver.fromRecord({
              localhost: { cert: pki.otherServer.chain, key: pki.otherServer.key }
            })
            const [one, two] = yield* Effect.all([listen(distinct(1)), listen(distinct(2))]).pipe(
              Effect.provideService(TicketKeys.TicketKeys, shared),
              Effect.provideService(SniResolver.SniResolver, resolver)
            )
            const cache = pinned()
            expect(yield* round(one, cache.service, { ca: pki.otherRoot.cert })).toEqual(FULL)
            cache.offerNewest()
            expect(yield* round(two, cache.service, { ca: pki.otherRoot.cert })).toEqual(RESUMED)
          }))

        it.scoped("after a hot reload the keys stay: a ticket made before it resumes on the new context", () =>
          Effect.gen(function*() {
            const shared = key()
            const server = yield* listen({ ticketKeys: shared })
            const cache = pinned()
            expect(yield* round(server, cache.service)).toEqual(FULL)
            cache.offerNewest()
            yield* server.reload({ cert: pki.server.chain, key: pki.server.key, alpnProtocols: ["x"] })
            expect(yield* round(server, cache.service)).toEqual(RESUMED)
          }))

        it.scoped("a wrong key length is TlsConfigError, for listen and for upgrade", () =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(listen({ ticketKeys: Redacted.make(new Uint8Array(32)) }))
            expect(error._tag).toBe("TlsConfigError")
            expect((error as { option?: string }).option).toBe("ticketKeys")
            const fixed = yield* Effect.flip(TicketKeys.fromKeys(Redacted.make(new Uint8Array(47))))
            expect(fixed._tag).toBe("TlsConfigError")
          }))
      } else {
        it.scoped("ticketKeys fails with TlsConfigError: this runtime cannot set ticket keys", () =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(listen({ ticketKeys: key() }))
            expect(error._tag).toBe("TlsConfigError")
            expect((error as { option?: string }).option).toBe("ticketKeys")
          }))

        it.scoped("upgrade in the server role with ticketKeys fails with TlsConfigError too", () =>
          Effect.gen(function*() {
            const [, b] = yield* Transport.makeMemoryPair()
            const error = yield* Effect.flip(Tls.upgrade(b, {
              ...common,
              role: "server",
              cert: pki.server.chain,
              key: pki.server.key,
              ticketKeys: key()
            }))
            expect(error).toMatchObject({ _tag: "TlsConfigError", option: "ticketKeys" })
          }))

        it.scoped("a TicketKeys service in the context fails listen with TlsConfigError too", () =>
          Effect.gen(function*() {
            const keys = yield* TicketKeys.makeRotating({ period: "1 hour" })
            const error = yield* Effect.flip(listen().pipe(Effect.provideService(TicketKeys.TicketKeys, keys)))
            expect(error._tag).toBe("TlsConfigError")
            expect((error as { option?: string }).option).toBe("ticketKeys")
          }))
      }

      describe("openssl s_client -sess_out / -sess_in against our server", () => {
        for (const [version, flag] of [["TLSv1.3", "-tls1_3"], ["TLSv1.2", "-tls1_2"]] as const) {
          /** One s_client run; what it printed, and whether our end resumed. */
          const sClient = (server: Tls.TlsServer, session: ["-sess_out" | "-sess_in", string]) =>
            Effect.gen(function*() {
              const serverSide = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
                const c = yield* server.accept
                yield* c.write("hi\n")
                return c.info.sessionReused
              })))
              const peer = yield* spawnPeer("openssl", [
                "s_client",
                "-connect",
                `127.0.0.1:${server.address.port}`,
                "-servername",
                "localhost",
                "-CAfile",
                pki.root.certFile,
                flag,
                // Read until our server closes: TLS 1.3 tickets come after the handshake.
                "-ign_eof",
                ...session
              ])
              yield* peer.exited
              return { out: peer.stdout(), serverReused: yield* Fiber.join(serverSide) }
            }).pipe(Effect.scoped)

          withPeers(["openssl"], it.scoped)(`${version}: s_client saves our session and resumes with it (Reused)`, () =>
            Effect.gen(function*() {
              const server = yield* listen()
              const file = join(pki.dir, `session-${version}-${name.replace(/\W+/g, "-")}.pem`)
              const first = yield* sClient(server, ["-sess_out", file])
              expect(first.out).toContain(`New, ${version}, Cipher is`)
              expect(first.serverReused).toBe(false)
              const second = yield* sClient(server, ["-sess_in", file])
              expect(second.out).toContain(`Reused, ${version}, Cipher is`)
              expect(second.serverReused).toBe(true)
            }))

          if (suiteOptions.ticketKeys) {
            withPeers(["openssl"], it.scoped)(`${version}: a session s_client saved from one listener resumes on another with the same ticketKeys`, () =>
              Effect.gen(function*() {
                const shared = key()
                const one = yield* listen({ ticketKeys: shared, ...distinct(1) })
                const two = yield* listen({ ticketKeys: shared, ...distinct(2) })
                const other = yield* listen({ ticketKeys: key(), ...distinct(3) })
                const file = join(pki.dir, `shared-${version}-${name.replace(/\W+/g, "-")}.pem`)
                expect((yield* sClient(one, ["-sess_out", file])).out).toContain(`New, ${version}, Cipher is`)
                const second = yield* sClient(two, ["-sess_in", file])
                expect(second.out).toContain(`Reused, ${version}, Cipher is`)
                expect(second.serverReused).toBe(true)
                // Other keys: a full handshake, no error.
                const third = yield* sClient(other, ["-sess_in", file])
                expect(third.out).toContain(`New, ${version}, Cipher is`)
                expect(third.serverReused).toBe(false)
              }))
          }

          withPeers(["openssl"], it.scoped)(`${version}: a session whose ticket was tampered with is a full handshake (New)`, () =>
            Effect.gen(function*() {
              const server = yield* listen()
              const file = join(pki.dir, `tampered-${version}-${name.replace(/\W+/g, "-")}.pem`)
              yield* sClient(server, ["-sess_out", file])
              writeFileSync(file, tamperTicket(readFileSync(file, "utf8")))
              const second = yield* sClient(server, ["-sess_in", file])
              expect(second.out).toContain(`New, ${version}, Cipher is`)
              expect(second.serverReused).toBe(false)
            }))
        }
      })
    })
  })
}

/**
 * An `SSL SESSION PARAMETERS` PEM with one byte of its ticket flipped (in
 * the middle: the encrypted state, so the ticket's MAC no longer holds).
 * The ticket is the DER field `[10] EXPLICIT OCTET STRING` (OpenSSL's
 * `tlsext_tick`).
 */
export const tamperTicket = (pem: string): string => {
  const body = pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "")
  const der = Buffer.from(body, "base64")
  const lengthAt = (at: number): [number, number] => {
    const first = der[at]!
    if (first < 0x80) return [first, 1]
    const n = first & 0x7f
    let length = 0
    for (let i = 1; i <= n; i++) length = length * 256 + der[at + i]!
    return [length, 1 + n]
  }
  for (let i = 0; i < der.length - 4; i++) {
    if (der[i] !== 0xaa) continue
    const [outer, outerSize] = lengthAt(i + 1)
    const inner = i + 1 + outerSize
    if (der[inner] !== 0x04) continue
    const [length, size] = lengthAt(inner + 1)
    if (length < 32 || 1 + size + length !== outer) continue
    const ticket = inner + 1 + size
    der[ticket + (length >> 1)]! ^= 0xff
    const lines = der.toString("base64").match(/.{1,64}/g)!.join("\n")
    return `-----BEGIN SSL SESSION PARAMETERS-----\n${lines}\n-----END SSL SESSION PARAMETERS-----\n`
  }
  throw new Error("no ticket in the session")
}
