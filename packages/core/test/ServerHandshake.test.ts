/**
 * The server side of a handshake in core, over an in-memory transport and a
 * recording runtime (no TLS library): the ClientHello is read first, the
 * resolver and selector run on the TestClock, and only then is the engine
 * made, with the chosen context and protocol, and fed the same bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Layer, Option, TestClock } from "effect"
import * as AlpnSelector from "../src/AlpnSelector.js"
import * as SniResolver from "../src/SniResolver.js"
import * as Tls from "../src/Tls.js"
import type * as TlsRuntime from "../src/TlsRuntime.js"
import type { TlsEngine, TlsEngineFactory } from "../src/TlsEngine.js"
import { TlsTransportError, want } from "../src/TlsError.js"
import type { ServerContext } from "../src/TlsOptions.js"
import * as Transport from "../src/Transport.js"
import { clientHello as helloRecord } from "../src/internal/testing/clientHello.js"

const clientHello = (servername: string | undefined, alpn: ReadonlyArray<string>) =>
  helloRecord({ servername, alpn: alpn.length === 0 ? undefined : alpn, versions: [0x0304, 0x0303] })

// ---------------------------------------------------------------------------
// A runtime that records which engines it was asked for.

interface Made {
  readonly cert: string
  readonly alpnProtocols: ReadonlyArray<string> | undefined
  readonly fed: Array<Uint8Array>
}

const recordingRuntime = () => {
  const made: Array<Made> = []
  const factoriesBuilt: Array<string> = []
  const engine = (record: Made): TlsEngine => ({
    role: "server",
    feed: (bytes) => {
      record.fed.push(bytes.slice())
    },
    feedEnd: () => {},
    drain: () => [],
    pendingOutgoing: () => 0,
    outgoingReady: Effect.never,
    writable: Effect.void,
    handshake: Effect.suspend(() => (record.fed.length > 0 ? Effect.void : Effect.fail(want.read.handshake))),
    read: Effect.fail(want.read.read),
    write: (bytes) => Effect.succeed(bytes.length),
    shutdown: Effect.void,
    info: Effect.succeed({
      role: "server",
      protocol: "recorded",
      cipher: "none",
      alpnProtocol: Option.fromNullable(record.alpnProtocols?.[0]),
      servername: Option.none(),
      authorized: false,
      peerCertificate: Option.none(),
      peerCertificateChain: [],
      sessionReused: false
    }),
    destroy: Effect.void
  })
  const runtime: TlsRuntime.TlsRuntime = {
    clientEngines: () => Effect.die("not used"),
    serverEngines: (options) =>
      Effect.sync((): TlsEngineFactory => {
        const cert = options.certChain[0]!
        factoriesBuilt.push(cert)
        return {
          make: (peer) =>
            Effect.sync(() => {
              const record: Made = { cert, alpnProtocols: peer.alpnProtocols, fed: [] }
              made.push(record)
              return engine(record)
            })
        }
      }),
    connect: () => Effect.fail(new TlsTransportError({ reason: "ConnectRefused" })),
    listen: () => Effect.fail(new TlsTransportError({ reason: "ConnectRefused" }))
  }
  return { tls: Tls.make(runtime), made, factoriesBuilt }
}

const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${btoa(body)}\n-----END ${label}-----\n`
const context = (name: string): ServerContext => ({
  cert: pem("CERTIFICATE", name),
  key: pem("PRIVATE KEY", `key of ${name}`)
})
const own = context("own")
const vhost = context("vhost")

const serverOptions = { role: "server" as const, ...own, alpnProtocols: ["h2", "http/1.1"] }

/** Everything the client end receives until the server side ends it. */
const received = (peer: Transport.Transport) =>
  Effect.gen(function*() {
    const chunks: Array<number> = []
    while (true) {
      const chunk = yield* peer.read.pipe(Effect.orElseSucceed(() => Option.none<Uint8Array>()))
      if (Option.isNone(chunk)) return chunks
      chunks.push(...chunk.value)
    }
  })

describe("server handshake in core", () => {
  it.scoped("an asynchronous resolver runs before the engine exists; the engine gets its context and the hello unchanged", () =>
    Effect.gen(function*() {
      const { factoriesBuilt, made, tls } = recordingRuntime()
      const [server, client] = yield* Transport.makeMemoryPair()
      const resolver = SniResolver.layer((servername) =>
        Effect.sleep("5 seconds").pipe(Effect.as(Option.some(vhost).pipe(Option.filter(() => Option.isSome(servername)))))
      )
      const fiber = yield* Effect.fork(tls.upgrade(server, serverOptions).pipe(Effect.provide(resolver)))
      const hello = clientHello("vhost.test", ["http/1.1", "h2"])
      // Delivered in three pieces: the server must gather the whole hello.
      for (const [from, to] of [[0, 3], [3, 40], [40, hello.length]] as const) {
        yield* client.write(hello.subarray(from, to))
      }
      yield* TestClock.adjust("4 seconds")
      expect(made).toHaveLength(0)
      yield* TestClock.adjust("1 second")
      const connection = yield* Fiber.join(fiber)
      expect(made).toHaveLength(1)
      expect(made[0]!.cert).toContain(btoa("vhost"))
      expect(made[0]!.alpnProtocols).toEqual(["h2"])
      expect(Buffer.concat(made[0]!.fed)).toEqual(Buffer.from(hello))
      expect(connection.info.alpnProtocol).toEqual(Option.some("h2"))
      // The server's own context and the resolved one: one factory each.
      expect(factoriesBuilt).toHaveLength(2)
    }))

  it.scoped("a context is built once however many handshakes use it, even when the resolver returns fresh objects", () =>
    Effect.gen(function*() {
      const { factoriesBuilt, tls } = recordingRuntime()
      const resolver = SniResolver.layer(() => Effect.succeed(Option.some({ ...vhost })))
      for (let i = 0; i < 3; i++) {
        const [server, client] = yield* Transport.makeMemoryPair()
        yield* client.write(clientHello("vhost.test", []))
        yield* tls.upgrade(server, serverOptions).pipe(Effect.provide(resolver))
      }
      expect(factoriesBuilt.filter((cert) => cert.includes(btoa("vhost")))).toHaveLength(1)
    }))

  it.scoped("a client without ALPN gets an engine without ALPN; the selector is not asked", () =>
    Effect.gen(function*() {
      const { made, tls } = recordingRuntime()
      let asked = 0
      const selector = AlpnSelector.layer(() => Effect.sync(() => asked++).pipe(Effect.as(Option.some("h2"))))
      const [server, client] = yield* Transport.makeMemoryPair()
      yield* client.write(clientHello("a.test", []))
      yield* tls.upgrade(server, serverOptions).pipe(Effect.provide(selector))
      expect(made[0]!.alpnProtocols).toEqual([])
      expect(asked).toBe(0)
    }))

  it.scoped("strict SNI: the client receives a plaintext unrecognized_name alert and the transport ends", () =>
    Effect.gen(function*() {
      const { made, tls } = recordingRuntime()
      const [server, client] = yield* Transport.makeMemoryPair()
      yield* client.write(clientHello("nobody.test", []))
      const error = yield* Effect.flip(
        tls.upgrade(server, serverOptions).pipe(
          Effect.provide(SniResolver.layerRecord({ "vhost.test": vhost }, { strict: true }))
        )
      )
      expect(error).toMatchObject({ _tag: "TlsAlertError", alert: "unrecognized_name", direction: "sent" })
      // alert record: content type 21, TLS 1.2 record version, length 2, fatal (2), unrecognized_name (112)
      expect(yield* received(client)).toEqual([21, 3, 3, 0, 2, 2, 112])
      expect(made).toHaveLength(0)
    }))

  it.scoped("a server name that is not a host name is refused before any resolver runs", () =>
    Effect.gen(function*() {
      const { tls } = recordingRuntime()
      let asked = 0
      const resolver = SniResolver.layer(() => Effect.sync(() => asked++).pipe(Effect.as(Option.none())))
      const [server, client] = yield* Transport.makeMemoryPair()
      yield* client.write(clientHello("../../etc/passwd", []))
      const error = yield* Effect.flip(tls.upgrade(server, serverOptions).pipe(Effect.provide(resolver)))
      expect(error).toMatchObject({ _tag: "TlsAlertError", alert: "unrecognized_name" })
      expect(asked).toBe(0)
    }))

  it.scoped("no protocol in common: no_application_protocol on the wire", () =>
    Effect.gen(function*() {
      const { tls } = recordingRuntime()
      const [server, client] = yield* Transport.makeMemoryPair()
      yield* client.write(clientHello("a.test", ["imap"]))
      const error = yield* Effect.flip(tls.upgrade(server, serverOptions))
      expect(error).toMatchObject({ _tag: "TlsAlertError", alert: "no_application_protocol", direction: "sent" })
      expect(yield* received(client)).toEqual([21, 3, 3, 0, 2, 2, 120])
    }))

  it.scoped("a resolver slower than handshakeTimeout ends in TlsTimeoutError at that virtual time", () =>
    Effect.gen(function*() {
      const { made, tls } = recordingRuntime()
      const [server, client] = yield* Transport.makeMemoryPair()
      yield* client.write(clientHello("slow.test", []))
      const fiber = yield* Effect.fork(
        tls.upgrade(server, { ...serverOptions, handshakeTimeout: "2 seconds" }).pipe(
          Effect.provide(SniResolver.layer(() => Effect.sleep("1 minute").pipe(Effect.as(Option.none())))),
          Effect.flip
        )
      )
      yield* TestClock.adjust("1999 millis")
      expect(fiber.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(fiber)).toMatchObject({ _tag: "TlsTimeoutError", phase: "handshake", millis: 2000 })
      expect(made).toHaveLength(0)
    }))

  it.scoped("a resolver that dies costs only its handshake: internal_error, and the next client is served", () =>
    Effect.gen(function*() {
      const { tls } = recordingRuntime()
      const resolver = Layer.succeed(
        SniResolver.SniResolver,
        SniResolver.make((name) =>
          Option.getOrUndefined(name) === "bad.test" ? Effect.die("boom") : Effect.succeed(Option.none())
        )
      )
      const attempt = (name: string) =>
        Effect.gen(function*() {
          const [server, client] = yield* Transport.makeMemoryPair()
          yield* client.write(clientHello(name, []))
          return yield* tls.upgrade(server, serverOptions).pipe(Effect.provide(resolver), Effect.either)
        })
      const bad = yield* attempt("bad.test")
      expect(bad._tag === "Left" && bad.left).toMatchObject({ _tag: "TlsAlertError", alert: "internal_error" })
      expect((yield* attempt("good.test"))._tag).toBe("Right")
    }))
})
