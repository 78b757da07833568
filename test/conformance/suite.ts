/**
 * The conformance suite: the contract of DESIGN.md, written once and run
 * against every layer that provides `Tls` (`conformance(name, layer)`).
 *
 * Every test uses real sockets on 127.0.0.1, port 0, and a PKI generated
 * when the suite starts.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as Transport from "@effect-tls/core/Transport"
import { Chunk, Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, type Scope, Stream } from "effect"
import * as net from "node:net"
import { afterAll } from "vitest"
import { generatePki } from "../src/pki.js"
import {
  acceptOne,
  collect,
  type Differences,
  failureOf,
  openTcpSockets,
  optionsFor,
  randomBytes,
  rawServer,
  rawTlsClient,
  rawTlsServer,
  refusedPort,
  seededRandom,
  writeThenBareFin
} from "./support.js"

/** How the suite reaches plain TCP for the STARTTLS test (default: NodeTransport). */
export interface SuiteOptions {
  /** Documented differences of this layer (none for Node's). */
  readonly differences?: Differences
  /** The client side of STARTTLS: a plain transport of the runtime under test. */
  readonly connectPlain?: (host: string, port: number) => Effect.Effect<Transport.Transport, unknown, Scope.Scope>
  /**
   * Options every connection of the suite gets: `{ allowTruncation: true }`
   * runs it on the runtime's native path (where it has one).
   */
  readonly common?: Partial<TlsOptions.CommonOptions>
}

export const conformance = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, suiteOptions: SuiteOptions = {}) => {
  const differences = suiteOptions.differences ?? {}
  const common = suiteOptions.common ?? {}
  /** A bare FIN reads as a clean end: by the options, or as the runtime documents. */
  const truncationIsEnd = common.allowTruncation === true || differences.truncationLooksClean === true
  const pki = generatePki()
  afterAll(() => pki.cleanup())

  const { clientOptions, serverOptions } = optionsFor(pki, common)

  /** A server running `handler` per connection until the test's scope closes. */
  const serving = <E>(
    options: TlsOptions.ServerOptions,
    handler: (c: TlsConnection) => Effect.Effect<unknown, E>
  ) =>
    Effect.gen(function*() {
      const server = yield* Tls.listen(options)
      yield* Effect.forkScoped(server.serve(handler))
      return server
    })

  const echo = (c: TlsConnection) => Stream.run(c.stream, c.sink)

  describe(`conformance: ${name}`, () => {
    // Real sockets and real time: the live Clock (excludeTestServices).
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      describe("handshake", () => {
        it.scoped("negotiates TLS 1.3 and reports every info field on both sides", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ alpnProtocols: ["h2", "http/1.1"] }))
            const client = yield* Tls.connect(clientOptions(port, { alpnProtocols: ["http/1.1", "h2"] }))
            const server = yield* result.pipe(Effect.flatten)

            expect(client.info.role).toBe("client")
            expect(client.info.protocol).toBe("TLSv1.3")
            expect(client.info.cipher).toMatch(/^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/)
            expect(client.info.alpnProtocol).toEqual(Option.some("h2"))
            expect(client.info.servername).toEqual(Option.some("localhost"))
            expect(client.info.authorized).toBe(true)
            expect(client.info.sessionReused).toBe(false)
            const cert = Option.getOrThrow(client.info.peerCertificate)
            expect(cert.subject.CN).toBe("localhost")
            expect(cert.subject.O).toBe("effect-tls")
            expect(cert.issuer.CN).toBe("effect-tls Test Intermediate")
            expect(Option.getOrThrow(cert.subjectAltName)).toContain("DNS:localhost")
            expect(cert.validTo.getTime()).toBeGreaterThan(Date.now())
            expect(cert.validFrom.getTime()).toBeLessThanOrEqual(Date.now())
            expect(cert.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/)
            expect(cert.raw[0]).toBe(0x30) // a DER SEQUENCE

            expect(server.info.role).toBe("server")
            expect(server.info.protocol).toBe("TLSv1.3")
            expect(server.info.cipher).toBe(client.info.cipher)
            expect(server.info.alpnProtocol).toEqual(Option.some("h2"))
            expect(server.info.servername).toEqual(Option.some("localhost"))
            expect(server.info.authorized).toBe(false)
            expect(server.info.peerCertificate).toEqual(Option.none())
            expect(server.info.peerCertificateChain).toEqual([])
          }))

        it.scoped("reports the server's chain, leaf first, up to the trusted root", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const client = yield* Tls.connect(clientOptions(server.address.port))
            const chain = client.info.peerCertificateChain
            expect(chain.map((c) => c.subject.CN)).toEqual(
              differences.chainIsLeafOnly
                ? ["localhost"]
                : ["localhost", "effect-tls Test Intermediate", "effect-tls Test Root"]
            )
            expect(chain[0]!.fingerprint256).toBe(Option.getOrThrow(client.info.peerCertificate).fingerprint256)
            // Each certificate was issued by the next.
            for (let i = 0; i + 1 < chain.length; i++) expect(chain[i]!.issuer.CN).toBe(chain[i + 1]!.subject.CN)
          }))

        it.scoped("negotiates TLS 1.2 when the client allows no more", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const client = yield* Tls.connect(clientOptions(server.address.port, { maxVersion: "TLSv1.2" }))
            expect(client.info.protocol).toBe("TLSv1.2")
            expect(client.info.cipher).toMatch(/^TLS_ECDHE_ECDSA_WITH_/)
            expect(client.info.alpnProtocol).toEqual(Option.none())
          }))

        it.scoped("uses the cipher suites it is given", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const v13 = yield* Tls.connect(clientOptions(server.address.port, { ciphers: "TLS_CHACHA20_POLY1305_SHA256" }))
            if (differences.tls13CiphersFixed) {
              // Documented: the library picks the TLS 1.3 suite whatever `ciphers` says.
              expect(v13.info.cipher).toMatch(/^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/)
            } else {
              expect(v13.info.cipher).toBe("TLS_CHACHA20_POLY1305_SHA256")
            }
            const v12 = yield* Tls.connect(
              clientOptions(server.address.port, { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305" })
            )
            expect(v12.info.cipher).toBe("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")
          }))

        it.scoped("a client that wants TLS 1.3 from a TLS 1.2 server fails with a protocol_version alert", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ maxVersion: "TLSv1.2" }))
            const failure = yield* Effect.flip(Tls.connect(clientOptions(port, { minVersion: "TLSv1.3" })))
            expect(failure).toMatchObject({ _tag: "TlsAlertError", alert: "protocol_version" })
            expect(failureOf(yield* result)).toMatchObject({ _tag: "TlsAlertError", alert: "protocol_version" })
          }))

        it.scoped("sends no SNI but verifies the IP address when connecting to 127.0.0.1", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port, { host: "127.0.0.1" }))
            const server = yield* result.pipe(Effect.flatten)
            expect(client.info.authorized).toBe(true)
            expect(client.info.servername).toEqual(Option.none())
            expect(server.info.servername).toEqual(Option.none())
          }))

        it.scoped("authenticates a client certificate (mutual TLS)", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ requestCert: true, ca: pki.root.cert }))
            const client = yield* Tls.connect(clientOptions(port, { cert: pki.client.chain, key: pki.client.key }))
            const server = yield* result.pipe(Effect.flatten)
            expect(server.info.authorized).toBe(true)
            const peer = Option.getOrThrow(server.info.peerCertificate)
            expect(peer.subject.CN).toBe("test client")
            expect(client.info.authorized).toBe(true)
          }))
      })

      describe("data", () => {
        it.scoped("echoes 10 MiB both ways intact, in chunks of random sizes", () =>
          Effect.gen(function*() {
            const seed = Date.now() >>> 0
            const random = seededRandom(seed)
            const total = Number(process.env.ECHO_BYTES ?? 10 * 1024 * 1024)
            const payload = randomBytes(total, random)
            const server = yield* serving(serverOptions(), echo)
            const client = yield* Tls.connect(clientOptions(server.address.port))
            const writer = yield* Effect.fork(
              Effect.gen(function*() {
                let offset = 0
                while (offset < total) {
                  const size = Math.min(total - offset, 1 + Math.floor(random() * 65536))
                  yield* client.write(payload.subarray(offset, offset + size))
                  offset += size
                }
              })
            )
            const received = yield* collect(client, total)
            yield* Fiber.join(writer)
            expect(received.length, `seed ${seed}`).toBe(total)
            expect(Buffer.compare(received, payload), `seed ${seed}`).toBe(0)
          }))

        it.scoped("streams: stream and sink carry the bytes in order", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const client = yield* Tls.connect(clientOptions(server.address.port))
            const messages = Array.from({ length: 200 }, (_, i) => `message ${i};`)
            yield* Stream.fromIterable(messages).pipe(
              Stream.map((s) => Buffer.from(s)),
              Stream.run(client.sink)
            )
            if (differences.noHalfClose) {
              // Documented: reading stops at our own close_notify, so read first.
              const length = messages.join("").length
              const all = yield* client.stream.pipe(
                Stream.mapAccum(0, (n, chunk) => [n + chunk.length, [n + chunk.length, chunk] as const]),
                Stream.takeUntil(([n]) => n >= length),
                Stream.map(([, chunk]) => chunk),
                Stream.runCollect
              )
              expect(Buffer.concat(Chunk.toArray(all)).toString()).toBe(messages.join(""))
              yield* client.shutdown
              expect(yield* client.read).toEqual(Option.none())
              return
            }
            yield* client.shutdown
            const all = yield* client.stream.pipe(Stream.runCollect)
            expect(Buffer.concat(Chunk.toArray(all)).toString()).toBe(messages.join(""))
          }))

        it.scoped("write suspends when the peer stops reading (bounded buffers)", () =>
          Effect.gen(function*() {
            const stalled = yield* Deferred.make<void>()
            const server = yield* serving(serverOptions(), () => Deferred.await(stalled))
            const client = yield* Tls.connect(clientOptions(server.address.port))
            const chunk = Buffer.alloc(64 * 1024, 7)
            let written = 0
            yield* Effect.forkScoped(Effect.forever(Effect.zipRight(client.write(chunk), Effect.sync(() => {
              written += chunk.length
            }))))
            // Wait until the writer has been stuck for a while, then check
            // how much it got rid of: kernel buffers plus our bounds, not more.
            let last = -1
            while (written !== last) {
              last = written
              yield* Effect.sleep("300 millis")
            }
            expect(written).toBeGreaterThan(0)
            expect(written).toBeLessThan(64 * 1024 * 1024)
          }))

        it.scoped("handles many small writes back to back", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const client = yield* Tls.connect(clientOptions(server.address.port))
            const n = 20_000
            const expected = Buffer.alloc(n * 10)
            const reader = yield* Effect.fork(collect(client, expected.length))
            for (let i = 0; i < n; i++) {
              const line = Buffer.from(String(i % 100_000_000).padStart(9, "0") + "\n")
              line.copy(expected, i * 10)
              yield* client.write(line)
            }
            const received = yield* Fiber.join(reader)
            expect(Buffer.compare(received, expected)).toBe(0)
          }))
      })

      describe("close", () => {
        it.scoped("both sides see a clean close", () =>
          Effect.gen(function*() {
            const serverSaw = yield* Deferred.make<Option.Option<Uint8Array>, unknown>()
            const server = yield* serving(serverOptions(), (c) =>
              Effect.gen(function*() {
                const first = yield* c.read
                yield* c.write(Buffer.from("bye"))
                const second = yield* c.read.pipe(Effect.exit)
                yield* Deferred.complete(serverSaw, second)
                expect(Option.isSome(first)).toBe(true)
              }))
            const client = yield* Tls.connect(clientOptions(server.address.port))
            yield* client.write("hello")
            yield* client.shutdown
            if (differences.noHalfClose) {
              // Documented: the server's answer is lost; reading ends at once.
              expect(yield* client.read).toEqual(Option.none())
              expect(yield* Deferred.await(serverSaw)).toEqual(Option.none())
              return
            }
            // The server answers, then its scope closes with close_notify.
            const reply = yield* collect(client, 3)
            expect(reply.toString()).toBe("bye")
            expect(yield* client.read).toEqual(Option.none())
            expect(yield* client.read).toEqual(Option.none())
            expect(yield* Deferred.await(serverSaw)).toEqual(Option.none())
          }))

        it.scoped("closing the connection's scope sends close_notify", () =>
          Effect.gen(function*() {
            const serverSaw = yield* Deferred.make<Option.Option<Uint8Array>, unknown>()
            const server = yield* serving(serverOptions(), (c) =>
              c.read.pipe(Effect.exit, Effect.flatMap((exit) => Deferred.complete(serverSaw, exit))))
            yield* Tls.connect(clientOptions(server.address.port)).pipe(Effect.scoped)
            expect(yield* Deferred.await(serverSaw)).toEqual(Option.none())
          }))

        describe(truncationIsEnd ? "close semantics (allowTruncation)" : "close semantics (strict, the default)", () => {
          const expectEnd = (exit: Exit.Exit<Option.Option<Uint8Array>, unknown>) => {
            if (truncationIsEnd) expect(exit).toEqual(Exit.succeed(Option.none()))
            else expect(failureOf(exit)).toMatchObject({ _tag: "TlsUnexpectedEof", phase: "read" })
          }

          it.scoped(
            truncationIsEnd
              ? "a server's bare FIN after its data reads as a clean end"
              : "a server's bare FIN after its data is TlsUnexpectedEof, and stays so",
            () =>
              Effect.gen(function*() {
                const raw = yield* rawTlsServer(pki)
                const client = yield* Tls.connect(clientOptions(raw.port))
                const peer = yield* raw.peer
                yield* writeThenBareFin(peer, "all of it")
                expect(Buffer.from(yield* collect(client, 9)).toString()).toBe("all of it")
                const exit = yield* Effect.exit(client.read)
                expectEnd(exit)
                expect(yield* Effect.exit(client.read)).toEqual(exit)
              })
          )

          it.scoped(
            truncationIsEnd
              ? "a client's bare FIN after its data reads as a clean end on the server"
              : "a client's bare FIN after its data is TlsUnexpectedEof on the server",
            () =>
              Effect.gen(function*() {
                const { port, result } = yield* acceptOne(serverOptions())
                const peer = yield* rawTlsClient(pki, port)
                const server = yield* Effect.flatten(result)
                yield* writeThenBareFin(peer, "all of it")
                expect(Buffer.from(yield* collect(server, 9)).toString()).toBe("all of it")
                expectEnd(yield* Effect.exit(server.read))
              })
          )

          it.scoped("close_notify then FIN reads as a clean end, and the peer still reads our reply", () =>
            Effect.gen(function*() {
              const raw = yield* rawTlsServer(pki)
              const client = yield* Tls.connect(clientOptions(raw.port))
              const peer = yield* raw.peer
              peer.tls.end("bye") // close_notify, then node:tls ends the TCP stream
              expect(Buffer.from(yield* collect(client, 3)).toString()).toBe("bye")
              expect(yield* client.read).toEqual(Option.none())
            }))

          it.scoped("a server that writes and closes right after its handshake sends close_notify (a strict client reads a clean end)", () =>
            Effect.gen(function*() {
              const server = yield* serving(serverOptions(), (c) => c.write("bye"))
              const client = yield* Tls.connect(clientOptions(server.address.port, { allowTruncation: false }))
              expect(Buffer.from(yield* collect(client, 3)).toString()).toBe("bye")
              expect(yield* client.read).toEqual(Option.none())
            }))

          it.scoped("a client that writes and closes right after its handshake sends close_notify (a strict server reads a clean end)", () =>
            Effect.gen(function*() {
              const { port, result } = yield* acceptOne(serverOptions({ allowTruncation: false }))
              yield* Tls.connect(clientOptions(port)).pipe(
                Effect.flatMap((c) => c.write("bye")),
                Effect.scoped
              )
              const server = yield* Effect.flatten(result)
              expect(Buffer.from(yield* collect(server, 3)).toString()).toBe("bye")
              expect(yield* server.read).toEqual(Option.none())
            }))

          it.scoped("over a memory pair (the sans-IO path on every runtime) the options mean the same", () =>
            Effect.gen(function*() {
              const [a, b] = yield* Transport.makeMemoryPair()
              const serverFiber = yield* Effect.fork(
                Tls.upgrade(b, { role: "server", cert: pki.server.chain, key: pki.server.key, ...common })
              )
              const client = yield* Tls.upgrade(a, { role: "client", servername: "localhost", ca: pki.root.cert, ...common })
              const server = yield* Fiber.join(serverFiber)
              yield* server.write("all of it")
              expect(Buffer.from(yield* collect(client, 9)).toString()).toBe("all of it")
              yield* b.end // the server's transport ends, no close_notify
              expectEnd(yield* Effect.exit(client.read))
            }))

          it.scoped("an early FIN during the handshake fails it with TlsUnexpectedEof, whatever the options", () =>
            Effect.gen(function*() {
              const tcp = yield* rawServer
              const connecting = yield* Effect.fork(Effect.exit(Tls.connect(clientOptions(tcp.port))))
              const socket = yield* tcp.connection(0)
              yield* tcp.received(0)
              socket.end() // FIN after the ClientHello, before any answer
              const failure = failureOf(yield* Fiber.join(connecting))
              expect(failure).toMatchObject({ _tag: "TlsUnexpectedEof", phase: "handshake" })
            }))
        })

        it.scoped("a transport that ends without close_notify gives TlsUnexpectedEof", () =>
          Effect.gen(function*() {
            const [a, b] = yield* Transport.makeMemoryPair()
            const serverFiber = yield* Effect.fork(
              Tls.upgrade(b, { role: "server", cert: pki.server.chain, key: pki.server.key })
            )
            const client = yield* Tls.upgrade(a, { role: "client", servername: "localhost", ca: pki.root.cert })
            yield* Fiber.join(serverFiber)
            yield* b.end // the server's transport ends, no close_notify
            const exit = yield* client.read.pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({ _tag: "TlsUnexpectedEof", phase: "read" })
            // Sticky: the same error again.
            expect(failureOf(yield* client.read.pipe(Effect.exit))).toBe(failureOf(exit))
          }))

        it.scoped("write after shutdown fails with TlsClosedError", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const client = yield* Tls.connect(clientOptions(server.address.port))
            yield* client.shutdown
            const exit = yield* client.write("late").pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({ _tag: "TlsClosedError", operation: "write" })
          }))
      })

      describe("upgrade", () => {
        it.scoped("runs both roles over an in-memory transport", () =>
          Effect.gen(function*() {
            const [a, b] = yield* Transport.makeMemoryPair({ capacity: 4096 })
            const serverFiber = yield* Effect.fork(
              Tls.upgrade(b, { role: "server", cert: pki.server.chain, key: pki.server.key, alpnProtocols: ["x"] })
            )
            const client = yield* Tls.upgrade(a, {
              role: "client",
              servername: "localhost",
              ca: pki.root.cert,
              alpnProtocols: ["x"]
            })
            const server = yield* Fiber.join(serverFiber)
            expect(client.info.alpnProtocol).toEqual(Option.some("x"))
            const payload = randomBytes(300_000, seededRandom(7))
            yield* Effect.fork(server.write(payload))
            const got = yield* collect(client, payload.length)
            expect(Buffer.compare(got, payload)).toBe(0)
          }))

        it.scoped("completes a handshake and a transfer delivered one byte per read", () =>
          Effect.gen(function*() {
            // A pipe that holds one byte, written one byte at a time: every
            // transport read returns exactly one byte.
            const [a, b] = yield* Transport.makeMemoryPair({ capacity: 1 })
            // Both wrappers change how bytes move, so neither keeps the
            // transport's `immediate` access (it would go around them).
            const bytewise = (t: Transport.Transport): Transport.Transport => ({
              ...t,
              immediate: undefined,
              write: (bytes) => Effect.forEach(bytes, (byte) => t.write(Uint8Array.of(byte)), { discard: true })
            })
            let reads = 0
            const counted = (t: Transport.Transport): Transport.Transport => ({
              ...t,
              immediate: undefined,
              read: Effect.tap(t.read, (chunk) => {
                reads++
                expect(Option.getOrThrow(chunk).length).toBe(1)
              })
            })
            const serverFiber = yield* Effect.fork(
              Tls.upgrade(counted(bytewise(b)), { role: "server", cert: pki.server.chain, key: pki.server.key })
            )
            const client = yield* Tls.upgrade(counted(bytewise(a)), {
              role: "client",
              servername: "localhost",
              ca: pki.root.cert
            })
            const server = yield* Fiber.join(serverFiber)
            const payload = randomBytes(20_000, seededRandom(11))
            yield* Effect.fork(client.write(payload))
            expect(Buffer.compare(yield* collect(server, payload.length), payload)).toBe(0)
            expect(reads).toBeGreaterThan(payload.length)
            // A one-byte pipe has no slack: each side's close_notify goes out
            // only as the other side reads it.
            yield* Effect.fork(client.shutdown)
            expect(yield* server.read).toEqual(Option.none())
            yield* Effect.fork(server.shutdown)
            expect(yield* client.read).toEqual(Option.none())
          }))

        it.scoped("upgrades a TCP socket that first spoke plaintext (STARTTLS)", () =>
          Effect.gen(function*() {
            const listener = yield* Effect.acquireRelease(
              Effect.async<net.Server>((resume) => {
                const s = net.createServer({ pauseOnConnect: true })
                s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
              }),
              (s) => Effect.sync(() => s.close())
            )
            const port = (listener.address() as net.AddressInfo).port
            const { NodeTransport } = yield* Effect.promise(() => import("@effect-tls/node"))
            const serverSide = Effect.async<net.Socket>((resume) => {
              listener.once("connection", (s) => resume(Effect.succeed(s)))
            })
            const serverFiber = yield* Effect.fork(
              Effect.gen(function*() {
                const socket = yield* serverSide
                const t = NodeTransport.fromSocket(socket)
                const hello = yield* t.read
                expect(Buffer.from(Option.getOrThrow(hello)).toString()).toBe("STARTTLS\r\n")
                yield* t.write(Buffer.from("GO\r\n"))
                const c = yield* Tls.upgrade(t, { role: "server", cert: pki.server.chain, key: pki.server.key })
                yield* echo(c)
              }).pipe(Effect.scoped)
            )
            const t = yield* (suiteOptions.connectPlain ?? NodeTransport.connect)("127.0.0.1", port)
            yield* t.write(Buffer.from("STARTTLS\r\n"))
            const go = yield* t.read
            expect(Buffer.from(Option.getOrThrow(go)).toString()).toBe("GO\r\n")
            const c = yield* Tls.upgrade(t, { role: "client", servername: "localhost", ca: pki.root.cert })
            yield* c.write("inside tls")
            expect((yield* collect(c, 10)).toString()).toBe("inside tls")
            yield* Fiber.interrupt(serverFiber)
          }))
      })

      describe("failures", () => {
        it.scoped("connection refused gives TlsTransportError", () =>
          Effect.gen(function*() {
            const port = yield* refusedPort
            const exit = yield* Tls.connect(clientOptions(port)).pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({
              _tag: "TlsTransportError",
              reason: "ConnectRefused",
              code: "ECONNREFUSED"
            })
          }))

        const rejected = (
          title: string,
          server: () => TlsOptions.ServerOptions,
          client: (port: number) => TlsOptions.ClientOptions,
          code: string
        ) =>
          it.scoped(title, () =>
            Effect.gen(function*() {
              const { port, result } = yield* acceptOne(server())
              const exit = yield* Tls.connect(client(port)).pipe(Effect.exit)
              expect(failureOf(exit)).toMatchObject({ _tag: "TlsCertificateError", code })
              // The server's handshake fails too, and typed.
              const serverExit = yield* result
              expect(Exit.isFailure(serverExit)).toBe(true)
              expect(["TlsUnexpectedEof", "TlsTransportError", "TlsAlertError", "TlsProtocolError"]).toContain(
                (failureOf(serverExit) as { _tag: string })._tag
              )
            }))

        rejected(
          "an untrusted CA gives TlsCertificateError with its verify code",
          () => serverOptions(),
          (port) => clientOptions(port, { ca: pki.otherRoot.cert }),
          "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
        )
        rejected(
          "the runtime's root store does not trust a private CA",
          () => serverOptions(),
          (port) => ({ host: "localhost", port }),
          "UNABLE_TO_GET_ISSUER_CERT_LOCALLY"
        )
        rejected(
          "a self-signed certificate gives DEPTH_ZERO_SELF_SIGNED_CERT",
          () => serverOptions({ cert: pki.selfSigned.cert, key: pki.selfSigned.key }),
          (port) => clientOptions(port),
          "DEPTH_ZERO_SELF_SIGNED_CERT"
        )
        rejected(
          "a server that omits its intermediate gives UNABLE_TO_VERIFY_LEAF_SIGNATURE",
          () => serverOptions({ cert: pki.server.cert }),
          (port) => clientOptions(port),
          "UNABLE_TO_VERIFY_LEAF_SIGNATURE"
        )
        rejected(
          "an expired certificate gives CERT_HAS_EXPIRED",
          () => serverOptions({ cert: pki.expired.chain, key: pki.expired.key }),
          (port) => clientOptions(port),
          "CERT_HAS_EXPIRED"
        )
        rejected(
          "a wrong host name gives ERR_TLS_CERT_ALTNAME_INVALID",
          () => serverOptions(),
          (port) => clientOptions(port, { servername: "example.org" }),
          "ERR_TLS_CERT_ALTNAME_INVALID"
        )

        it.scoped("verify: false accepts an untrusted certificate and says so in info", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions({ cert: pki.selfSigned.cert, key: pki.selfSigned.key }), echo)
            const client = yield* Tls.connect({ host: "localhost", port: server.address.port, verify: false })
            expect(client.info.authorized).toBe(false)
            yield* client.write("ok")
            expect((yield* collect(client, 2)).toString()).toBe("ok")
          }))

        it.scoped("a missing client certificate fails the TLS 1.2 handshake on both sides", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ requestCert: true, ca: pki.root.cert }))
            const exit = yield* Tls.connect(clientOptions(port, { maxVersion: "TLSv1.2" })).pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({
              _tag: "TlsAlertError",
              alert: "handshake_failure",
              direction: "received"
            })
            expect(failureOf(yield* result)).toMatchObject({
              _tag: "TlsAlertError",
              alert: "handshake_failure",
              direction: "sent"
            })
          }))

        it.scoped("a missing client certificate under TLS 1.3 fails the server handshake and the client's first read", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ requestCert: true, ca: pki.root.cert }))
            // TLS 1.3 clients finish their side of the handshake before the
            // server has judged the certificate, so the alert arrives after.
            const exit = yield* Tls.connect(clientOptions(port)).pipe(
              Effect.flatMap((c) => c.read),
              Effect.exit
            )
            expect(failureOf(exit)).toMatchObject({
              _tag: "TlsAlertError",
              alert: "certificate_required",
              direction: "received"
            })
            expect(failureOf(yield* result)).toMatchObject({
              _tag: "TlsAlertError",
              alert: differences.tls13MissingCertificateAlertSent ?? "certificate_required",
              direction: "sent"
            })
          }))

        it.scoped("a client certificate from an untrusted CA is rejected by the server", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ requestCert: true, ca: pki.otherRoot.cert }))
            const exit = yield* Tls.connect(clientOptions(port, { cert: pki.client.chain, key: pki.client.key })).pipe(
              Effect.flatMap((c) => c.read),
              Effect.exit
            )
            if (truncationIsEnd) {
              // The server drops the connection without an alert or
              // close_notify, which this client reads as a clean end.
              expect(Exit.match(exit, { onFailure: () => true, onSuccess: Option.isNone })).toBe(true)
            } else {
              expect(Exit.isFailure(exit)).toBe(true)
            }
            const failure = failureOf(yield* result) as { _tag: string; host: string }
            expect(failure).toMatchObject({ _tag: "TlsCertificateError", code: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY" })
            expect(failure.host).toMatch(/^127\.0\.0\.1:\d+$/)
          }))

        it.scoped("a connection reset by the peer gives TlsTransportError Reset, and stays failed", () =>
          Effect.gen(function*() {
            const { NodeTransport } = yield* Effect.promise(() => import("@effect-tls/node"))
            const accepted = yield* Deferred.make<net.Socket>()
            const tcp = yield* Effect.acquireRelease(
              Effect.async<net.Server>((resume) => {
                const s = net.createServer({ pauseOnConnect: true }, (socket) => {
                  Deferred.unsafeDone(accepted, Exit.succeed(socket))
                })
                s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
              }),
              (s) => Effect.sync(() => s.close())
            )
            const port = (tcp.address() as net.AddressInfo).port
            const serverFiber = yield* Effect.fork(
              Effect.flatMap(Deferred.await(accepted), (socket) =>
                Tls.upgrade(NodeTransport.fromSocket(socket), {
                  role: "server",
                  cert: pki.server.chain,
                  key: pki.server.key
                }))
            )
            const client = yield* Tls.connect(clientOptions(port))
            yield* Fiber.join(serverFiber)
            const socket = yield* Deferred.await(accepted)
            // The server stops reading; once its buffers hold unread data,
            // destroying the socket makes the kernel answer with a reset.
            yield* Effect.forkScoped(client.write(Buffer.alloc(512 * 1024, 1)).pipe(Effect.ignore))
            while (socket.readableLength < socket.readableHighWaterMark) yield* Effect.sleep("5 millis")
            socket.destroy()
            const first = yield* Effect.flip(client.read)
            expect(first).toMatchObject({ _tag: "TlsTransportError", reason: "Reset", code: "ECONNRESET" })
            expect(yield* Effect.flip(client.write("after"))).toBe(first)
          }))

        it.scoped("a client that speaks HTTP to the server fails that handshake with a typed error", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const raw = yield* Effect.acquireRelease(
              Effect.async<net.Socket>((resume) => {
                const s = net.connect(port, "127.0.0.1", () => resume(Effect.succeed(s)))
              }),
              (s) => Effect.sync(() => s.destroy())
            )
            raw.on("data", () => {})
            raw.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            const failure = failureOf(yield* result) as { _tag: string; code?: string }
            expect(failure).toMatchObject({ _tag: "TlsProtocolError", code: "ERR_SSL_HTTP_REQUEST" })
          }))

        it.scoped("a client that connects and says nothing is given up on by the server's handshakeTimeout", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ handshakeTimeout: "200 millis" }))
            const raw = yield* Effect.acquireRelease(
              Effect.async<net.Socket>((resume) => {
                const s = net.connect(port, "127.0.0.1", () => resume(Effect.succeed(s)))
              }),
              (s) => Effect.sync(() => s.destroy())
            )
            const closed = Effect.async<void>((resume) => {
              if (raw.destroyed || raw.readableEnded) return resume(Effect.void)
              raw.once("close", () => resume(Effect.void))
            })
            raw.on("data", () => {})
            raw.on("error", () => {})
            expect(failureOf(yield* result)).toMatchObject({ _tag: "TlsTimeoutError", phase: "handshake", millis: 200 })
            // The server let go of the socket: the client sees it close.
            yield* closed
          }))

        it.scoped("a handshake that outlives handshakeTimeout gives TlsTimeoutError", () =>
          Effect.gen(function*() {
            const silent = yield* rawServer
            const exit = yield* Tls.connect(clientOptions(silent.port, { handshakeTimeout: "200 millis" })).pipe(
              Effect.exit
            )
            expect(failureOf(exit)).toMatchObject({ _tag: "TlsTimeoutError", phase: "handshake", millis: 200 })
            yield* silent.closed(0)
          }))

        it.scoped("a peer that is not speaking TLS gives a typed error", () =>
          Effect.gen(function*() {
            const garbage = yield* rawServer
            const fiber = yield* Effect.fork(Tls.connect(clientOptions(garbage.port)).pipe(Effect.exit))
            const socket = yield* garbage.connection(0)
            socket.write("HTTP/1.1 400 Bad Request\r\n\r\n")
            const exit = yield* Fiber.join(fiber)
            // OpenSSL sends no alert for a first record that is not TLS
            // (SSL_AD_NO_ALERT), and the error says so; BoringSSL sends one.
            expect(failureOf(exit)).toMatchObject(
              differences.alertForNotTls
                ? { _tag: "TlsAlertError", alert: "protocol_version", direction: "sent" }
                : { _tag: "TlsProtocolError", code: "ERR_SSL_WRONG_VERSION_NUMBER" }
            )
          }))
      })

      describe("options", () => {
        const bad: ReadonlyArray<readonly [string, (port: number) => TlsOptions.ClientOptions, string]> = [
          ["a certificate that is not PEM", (port) => clientOptions(port, { cert: "nonsense", key: pki.client.key }), "cert"],
          ["a key without a certificate", (port) => clientOptions(port, { key: pki.client.key }), "cert"],
          ["a key that does not match the certificate", (port) =>
            clientOptions(port, { cert: pki.client.chain, key: pki.server.key }), "key"],
          ["a CA that is not a certificate", (port) => clientOptions(port, { ca: pki.client.key }), "ca"],
          ["a corrupt CA", (port) =>
            clientOptions(port, { ca: pki.root.cert.replace(/\n[A-Za-z0-9+/]{8}/, "\nAAAAAAAA") }), "ca"],
          ["an unknown TLS version", (port) =>
            clientOptions(port, { minVersion: "TLSv1.1" as TlsOptions.TlsVersion }), "minVersion"],
          ["minVersion above maxVersion", (port) =>
            clientOptions(port, { minVersion: "TLSv1.3", maxVersion: "TLSv1.2" }), "minVersion"],
          ["an empty ALPN name", (port) => clientOptions(port, { alpnProtocols: [""] }), "alpnProtocols[0]"],
          ["a cipher list that matches nothing", (port) => clientOptions(port, { ciphers: "NO-SUCH-CIPHER" }), "ciphers"],
          ["a port out of range", () => clientOptions(70000), "port"],
          ["a negative handshake timeout", (port) => clientOptions(port, { handshakeTimeout: -5 }), "handshakeTimeout"]
        ]
        for (const [title, options, option] of bad) {
          it.scoped(`${title} gives TlsConfigError before any socket is opened`, () =>
            Effect.gen(function*() {
              const watcher = yield* rawServer
              const exit = yield* Tls.connect(options(watcher.port)).pipe(Effect.exit)
              expect(failureOf(exit)).toMatchObject({ _tag: "TlsConfigError", option })
              expect(watcher.accepted()).toBe(0)
            }))
        }

        it.scoped("listening on a port that is taken gives TlsTransportError", () =>
          Effect.gen(function*() {
            const first = yield* Tls.listen(serverOptions())
            const exit = yield* Tls.listen(serverOptions({ port: first.address.port })).pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({ _tag: "TlsTransportError", reason: "ListenFailed", code: "EADDRINUSE" })
          }))

        it.scoped("a server with a mismatched key fails with TlsConfigError before it binds", () =>
          Effect.gen(function*() {
            const exit = yield* Tls.listen(serverOptions({ key: pki.client.key })).pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({ _tag: "TlsConfigError", option: "key" })
          }))

        it.effect("error messages never contain key material", () =>
          Effect.gen(function*() {
            const exit = yield* TlsOptions.decodeClient(
              clientOptions(1, { cert: pki.client.chain, key: pki.server.key.replace("PRIVATE KEY", "PUBLIC KEY") })
            ).pipe(Effect.exit)
            const body = pki.server.key.split("\n")[1]!
            expect(JSON.stringify(failureOf(exit))).not.toContain(body)
            expect(String(failureOf(exit))).not.toContain(body)
          }))
      })

      describe("resources", () => {
        it.scoped("interrupting a client in the middle of its handshake closes its socket", () =>
          Effect.gen(function*() {
            const silent = yield* rawServer
            const fiber = yield* Effect.fork(Tls.connect(clientOptions(silent.port)).pipe(Effect.scoped))
            const socket = yield* silent.connection(0)
            yield* silent.received(0) // the ClientHello went out: mid-handshake
            yield* Fiber.interrupt(fiber)
            yield* silent.closed(0)
            expect(socket.destroyed || socket.readableEnded).toBe(true)
          }))

        it.scoped("interrupting a server in the middle of a handshake closes the client's socket", () =>
          Effect.gen(function*() {
            const server = yield* Tls.listen(serverOptions())
            const fiber = yield* Effect.fork(server.accept.pipe(Effect.scoped))
            const raw = yield* Effect.async<net.Socket>((resume) => {
              const s = net.connect(server.address.port, "127.0.0.1", () => resume(Effect.succeed(s)))
            })
            const ended = Effect.async<void>((resume) => {
              if (raw.destroyed || raw.readableEnded) return resume(Effect.void)
              raw.once("close", () => resume(Effect.void))
              raw.resume()
            })
            raw.write(Buffer.from([0x16, 0x03, 0x01])) // a ClientHello that never finishes
            yield* Effect.sleep("50 millis")
            yield* Fiber.interrupt(fiber)
            yield* ended
          }))

        it.scoped("interrupting clients at random points leaves no socket open on either side", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const tcpSockets = openTcpSockets
            // Sockets of earlier tests may still be closing: let them finish.
            for (let i = 0; i < 200 && tcpSockets() > 0; i++) yield* Effect.sleep("10 millis")
            const baseline = tcpSockets()
            const seed = Date.now() >>> 0
            const random = seededRandom(seed)
            const payload = randomBytes(200_000, random)
            for (let i = 0; i < 40; i++) {
              const fiber = yield* Effect.fork(
                Effect.gen(function*() {
                  const c = yield* Tls.connect(clientOptions(server.address.port))
                  yield* Effect.fork(c.write(payload))
                  yield* collect(c, payload.length)
                }).pipe(Effect.scoped)
              )
              yield* Effect.sleep(Math.floor(random() * 12))
              yield* Fiber.interrupt(fiber)
            }
            // Handles close asynchronously: wait (bounded) for the count to settle.
            for (let i = 0; i < 200 && tcpSockets() > baseline; i++) yield* Effect.sleep("10 millis")
            expect(tcpSockets(), `seed ${seed}`).toBeLessThanOrEqual(baseline)
          }))

        it.scoped("serve survives clients that fail their handshake", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            for (let i = 0; i < 3; i++) {
              const bad = yield* Tls.connect(clientOptions(server.address.port, { ca: pki.otherRoot.cert })).pipe(
                Effect.scoped,
                Effect.exit
              )
              expect(Exit.isFailure(bad)).toBe(true)
            }
            const good = yield* Tls.connect(clientOptions(server.address.port))
            yield* good.write("still serving")
            expect((yield* collect(good, 13)).toString()).toBe("still serving")
          }))

        it.scoped("Tls.serve lives as long as its Effect runs, and interrupting it ends every handler", () =>
          Effect.gen(function*() {
            const port = yield* refusedPort
            const handlerEnded = yield* Deferred.make<void>()
            const serving = yield* Effect.fork(
              Tls.serve(serverOptions({ port }), (c) =>
                Stream.run(c.stream, c.sink).pipe(Effect.onInterrupt(() => Deferred.succeed(handlerEnded, void 0))))
            )
            // Until the server is listening, connecting is refused.
            const client = yield* Effect.retry(Tls.connect(clientOptions(port)), {
              while: (e) => e._tag === "TlsTransportError",
              schedule: Schedule.intersect(Schedule.spaced("10 millis"), Schedule.recurs(500))
            })
            yield* client.write("alive?")
            expect((yield* collect(client, 6)).toString()).toBe("alive?")
            yield* Fiber.interrupt(serving)
            yield* Deferred.await(handlerEnded)
            // The handler's scope closed the connection with close_notify...
            expect(yield* client.read).toEqual(Option.none())
            // ...and the port no longer accepts connections.
            const after = yield* Effect.flip(Tls.connect(clientOptions(port)).pipe(Effect.scoped))
            expect(after).toMatchObject({ _tag: "TlsTransportError", reason: "ConnectRefused" })
          }))

        it.scoped("serves concurrent clients", () =>
          Effect.gen(function*() {
            const server = yield* serving(serverOptions(), echo)
            const results = yield* Effect.forEach(
              Array.from({ length: 16 }, (_, i) => i),
              (i) =>
                Effect.gen(function*() {
                  const c = yield* Tls.connect(clientOptions(server.address.port))
                  const msg = `client ${i} `.repeat(1000)
                  yield* c.write(msg)
                  return (yield* collect(c, msg.length)).toString() === msg
                }).pipe(Effect.scoped),
              { concurrency: "unbounded" }
            )
            expect(results.every(Boolean)).toBe(true)
          }))
      })
    })
  })
}
