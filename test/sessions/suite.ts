/**
 * Client sessions, written once and run against every layer: a second
 * connection to the same server resumes by default (both ends say so), a
 * client that closes without reading keeps the tickets that reached it, a
 * session never crosses trust settings or server names, a session the
 * server cannot use is a full handshake without a word, and our client
 * resumes against `openssl s_server` (TLS 1.3 tickets, TLS 1.2 tickets and
 * session ids).
 */
import { describe, expect, layer } from "@effect/vitest"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import { Effect, Fiber, type Layer, Option, Redacted } from "effect"
import * as tls from "node:tls"
import { afterAll } from "vitest"
import { generatePki } from "../src/pki.js"
import { readUntil } from "../src/reading.js"
import { sServer } from "../interop/peers.js"

export interface SessionSuiteOptions {
  /** Options every connection gets (`allowTruncation`: the runtime's native path). */
  readonly common?: Partial<TlsOptions.CommonOptions>
}

/** One turn of the event loop (no timer). */
const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Read until the peer's end (or a failure): the server's side of a round. */
export const drain = (c: TlsConnection): Effect.Effect<void> =>
  Effect.ignore(Effect.repeat(c.read, { while: Option.isSome }))

/**
 * One connection to `server` with `client`'s options: the server writes
 * "hi" and the client reads it (so every ticket sent before it has
 * arrived). Whether each end says it resumed.
 */
export const round = (server: Tls.TlsServer, client: TlsOptions.ClientOptions) =>
  Effect.gen(function*() {
    const serverSide = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
      const c = yield* server.accept
      yield* c.write("hi")
      yield* drain(c)
      return c.info.sessionReused
    })))
    const clientReused = yield* Effect.scoped(Effect.gen(function*() {
      const c = yield* Tls.connect(client)
      expect(yield* readUntil(c, "hi")).toBe("hi")
      return c.info.sessionReused
    }))
    const serverReused = yield* Fiber.join(serverSide)
    return { client: clientReused, server: serverReused }
  })

export const sessionSuite = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, options: SessionSuiteOptions = {}) => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const common = options.common ?? {}

  const listen = (extra: Partial<TlsOptions.ServerOptions> = {}) =>
    Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key, ...extra })

  /** `round` with this suite's client options (and `client`'s). */
  const roundTrip = (server: Tls.TlsServer, client: Partial<TlsOptions.ClientOptions> = {}) =>
    round(server, {
      ...common,
      host: "127.0.0.1",
      port: server.address.port,
      servername: "localhost",
      ca: pki.root.cert,
      ...client
    })

  describe(`client sessions: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.scoped("TLS 1.3: a second connection to the same server resumes by default, and both ends say so", () =>
        Effect.gen(function*() {
          const s = yield* listen()
          expect(yield* roundTrip(s)).toEqual({ client: false, server: false })
          expect(yield* roundTrip(s)).toEqual({ client: true, server: true })
        }))

      it.scoped("a resumed connection still reports the server's certificate, verified", () =>
        Effect.gen(function*() {
          const s = yield* listen()
          yield* roundTrip(s)
          const accepting = yield* Effect.fork(Effect.scoped(Effect.flatMap(s.accept, (c) => c.write("hi"))))
          const info = yield* Effect.scoped(Effect.gen(function*() {
            const c = yield* Tls.connect({
              ...common,
              host: "127.0.0.1",
              port: s.address.port,
              servername: "localhost",
              ca: pki.root.cert
            })
            yield* readUntil(c, "hi")
            return c.info
          }))
          yield* Fiber.join(accepting)
          expect(info.sessionReused).toBe(true)
          expect(info.authorized).toBe(true)
          expect(Option.map(info.peerCertificate, (p) => p.subject.CN)).toEqual(Option.some("localhost"))
          expect(info.peerCertificateChain.length).toBeGreaterThan(0)
        }))

      it.scoped("TLS 1.2 session tickets: a second connection resumes, and a third", () =>
        Effect.gen(function*() {
          const s = yield* listen({ maxVersion: "TLSv1.2" })
          expect(yield* roundTrip(s)).toEqual({ client: false, server: false })
          expect(yield* roundTrip(s)).toEqual({ client: true, server: true })
          // A TLS 1.2 session is not single-use: it stays until it expires.
          expect(yield* roundTrip(s)).toEqual({ client: true, server: true })
        }))

      it.scoped("a session never crosses trust settings: another CA list makes a full handshake", () =>
        Effect.gen(function*() {
          const s = yield* listen()
          yield* roundTrip(s)
          expect(yield* roundTrip(s, { ca: [pki.root.cert, pki.otherRoot.cert] })).toEqual({ client: false, server: false })
          // The session made under the first settings was kept for them.
          expect(yield* roundTrip(s)).toEqual({ client: true, server: true })
        }))

      it.scoped("a session never crosses server names (or verify: false)", () =>
        Effect.gen(function*() {
          const s = yield* listen()
          yield* roundTrip(s)
          expect(yield* roundTrip(s, { servername: "other.test", verify: false })).toEqual({ client: false, server: false })
          expect(yield* roundTrip(s, { verify: false })).toEqual({ client: false, server: false })
          expect(yield* roundTrip(s)).toEqual({ client: true, server: true })
        }))

      it.scoped("garbage session data is a full handshake, silently", () =>
        Effect.gen(function*() {
          const s = yield* listen()
          const garbage: SessionCache.SessionCacheService = {
            take: () =>
              Effect.succeedSome({
                data: Redacted.make(new Uint8Array([0x30, 0x82, 0x01, 0x00, 1, 2, 3, 4, 5])),
                expiresAt: Number.MAX_SAFE_INTEGER,
                singleUse: true
              }),
            put: () => Effect.void
          }
          const result = yield* roundTrip(s).pipe(Effect.provideService(SessionCache.SessionCache, garbage))
          expect(result).toEqual({ client: false, server: false })
        }))

      it.scoped("a session the server no longer takes (other ticket keys) is a full handshake, silently", () =>
        Effect.gen(function*() {
          // node:tls's own server with the same certificate: ticket keys of its own.
          const other = yield* Effect.acquireRelease(
            Effect.async<tls.Server>((resume) => {
              const server = tls.createServer({ cert: pki.server.chain, key: pki.server.key }, (socket) => {
                socket.on("error", () => {})
                socket.end("hi")
              })
              server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
            }),
            (server) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void)))
          )
          const port = (other.address() as { port: number }).port
          const kept: Array<SessionCache.Session> = []
          const recording: SessionCache.SessionCacheService = {
            take: () => Effect.sync(() => Option.fromNullable(kept.shift())),
            put: (_key, session) => Effect.sync(() => void kept.push(session))
          }
          const s = yield* listen()
          yield* roundTrip(s).pipe(Effect.provideService(SessionCache.SessionCache, recording))
          expect(kept.length).toBeGreaterThan(0)
          const reused = yield* Effect.scoped(Effect.gen(function*() {
            const c = yield* Tls.connect({ ...common, host: "127.0.0.1", port, servername: "localhost", ca: pki.root.cert })
            expect(yield* readUntil(c, "hi")).toBe("hi")
            return c.info.sessionReused
          })).pipe(Effect.provideService(SessionCache.SessionCache, recording))
          expect(reused).toBe(false)
        }))

      it.scoped("SessionCache.layerDisabled turns resumption off", () =>
        Effect.gen(function*() {
          const s = yield* listen()
          const twice = Effect.zipRight(roundTrip(s), roundTrip(s))
          expect(yield* twice.pipe(Effect.provide(SessionCache.layerDisabled))).toEqual({ client: false, server: false })
        }))

      describe("our client, openssl s_server", () => {
        const serverFiles = ["-cert", pki.server.certFile, "-key", pki.server.keyFile, "-cert_chain", pki.intermediate.certFile]
        /**
         * Two connections to one s_server in `-www` mode: each sends a GET
         * and reads s_server's status page, which starts "New," or
         * "Reused," (then the protocol): the server's own word.
         */
        const viaOpenssl = (args: ReadonlyArray<string>) =>
          Effect.gen(function*() {
            const { port } = yield* sServer([...serverFiles, "-www", ...args])
            const once = Effect.scoped(Effect.gen(function*() {
              const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
              yield* c.write("GET / HTTP/1.0\r\n\r\n")
              const page = yield* readUntil(c, "Cipher is")
              return {
                reused: c.info.sessionReused,
                protocol: c.info.protocol,
                server: /(New|Reused), (TLSv1\.[23])/.exec(page)?.slice(1, 3).join(" ")
              }
            }))
            const first = yield* once
            const second = yield* once
            return { first, second }
          })

        it.scoped("a client that writes and closes without reading keeps the tickets that reached it", () =>
          Effect.gen(function*() {
            // s_server writes its TLS 1.3 tickets before it reports the
            // connection (on stderr in -rev mode).
            const { peer, port } = yield* sServer([...serverFiles, "-rev"])
            const established = (n: number) =>
              peer.shows(`${n} connection(s)`, (_out, err) => err.split("CONNECTION ESTABLISHED").length > n).pipe(
                Effect.timeout("10 seconds"),
                Effect.orDie
              )
            const once = (n: number) =>
              Effect.scoped(Effect.gen(function*() {
                const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
                yield* c.write("ping\n")
                yield* established(n)
                // Two turns of the event loop (a poll between them): the
                // tickets are off the kernel, with the client's socket, and
                // TLS never read them. Closing must take them in.
                yield* turn
                yield* turn
                return c.info.sessionReused
              }))
            expect(yield* once(1)).toBe(false)
            expect(yield* once(2)).toBe(true)
          }))

        it.scoped("TLS 1.3 tickets: the second connection resumes (s_server says Reused)", () =>
          Effect.gen(function*() {
            const { first, second } = yield* viaOpenssl([])
            expect(first).toEqual({ reused: false, protocol: "TLSv1.3", server: "New TLSv1.3" })
            expect(second).toEqual({ reused: true, protocol: "TLSv1.3", server: "Reused TLSv1.3" })
          }))

        it.scoped("TLS 1.2 session tickets: the second connection resumes", () =>
          Effect.gen(function*() {
            const { first, second } = yield* viaOpenssl(["-tls1_2"])
            expect(first).toEqual({ reused: false, protocol: "TLSv1.2", server: "New TLSv1.2" })
            expect(second).toEqual({ reused: true, protocol: "TLSv1.2", server: "Reused TLSv1.2" })
          }))

        it.scoped("TLS 1.2 without tickets: the second connection resumes by session id", () =>
          Effect.gen(function*() {
            const { first, second } = yield* viaOpenssl(["-tls1_2", "-no_ticket"])
            expect(first).toEqual({ reused: false, protocol: "TLSv1.2", server: "New TLSv1.2" })
            expect(second).toEqual({ reused: true, protocol: "TLSv1.2", server: "Reused TLSv1.2" })
          }))
      })
    })
  })
}
