/**
 * `TlsSocket` and `TlsSocketServer` (@effect/platform's Socket and
 * SocketServer over TLS) and @effect/rpc over them with mutual TLS,
 * written once and run against every layer that provides `Tls`.
 *
 * Real sockets on 127.0.0.1, port 0, and a PKI generated when the suite
 * starts.
 */
import { describe, expect, it, layer } from "@effect/vitest"
import * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import { Rpc, RpcClient, RpcClientError, RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as TlsSocket from "@effect-tls/core/TlsSocket"
import * as TlsSocketServer from "@effect-tls/core/TlsSocketServer"
import { Chunk, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, Schema, Scope, Stream } from "effect"
import { afterAll } from "vitest"
import { generatePki } from "../src/pki.js"
import {
  collect,
  type Differences,
  failureOf,
  optionsFor,
  rawServer,
  rawTlsClient,
  rawTlsServer,
  refusedPort,
  writeThenBareFin
} from "../conformance/support.js"

const decoder = new TextDecoder()
const text = (chunks: Iterable<Uint8Array>) => Array.from(chunks, (c) => decoder.decode(c)).join("")

/** The RPC group of the suite. */
class Greeter extends RpcGroup.make(
  Rpc.make("Greet", { payload: { name: Schema.String }, success: Schema.String })
) {}

const greeterHandlers = Greeter.toLayer({
  Greet: ({ name }) => Effect.succeed(`hello ${name}`)
})

export interface SocketSuiteOptions {
  /** Documented differences of this layer (none for Node's). */
  readonly differences?: Differences
  /**
   * Options every connection of the suite gets: `{ allowTruncation: true }`
   * runs it on the runtime's native path, where a bare FIN reads as a
   * clean end by the program's choice.
   */
  readonly common?: Partial<TlsOptions.CommonOptions>
}

export const socketConformance = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, suiteOptions: SocketSuiteOptions = {}) => {
  const differences = suiteOptions.differences ?? {}
  const common = suiteOptions.common ?? {}
  /** A bare FIN reads as a clean end: by the options, or as the runtime documents. */
  const truncationIsEnd = common.allowTruncation === true || differences.truncationLooksClean === true
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const { clientOptions, serverOptions } = optionsFor(pki, common)
  const mutual = (extra: Partial<TlsOptions.ServerOptions> = {}) =>
    serverOptions({ requestCert: true, ca: pki.root.cert, ...extra })
  const withClientCertificate = (port: number, extra: Partial<TlsOptions.ClientOptions> = {}) =>
    clientOptions(port, { cert: pki.client.chain, key: pki.client.key, ...extra })

  /** A TLS server running `handler` per connection until the test's scope closes. */
  const serving = <E>(options: TlsOptions.ServerOptions, handler: (c: TlsConnection) => Effect.Effect<unknown, E>) =>
    Effect.gen(function*() {
      const server = yield* Tls.listen(options)
      yield* Effect.forkScoped(server.serve(handler))
      return server.address.port
    })

  /** Reads `n` bytes, writes them back, and returns (closing with close_notify). */
  const echoThenClose = (n: number) => (c: TlsConnection) => Effect.flatMap(collect(c, n), (bytes) => c.write(bytes))

  /** An RPC server of `Greeter` on a bound `TlsSocketServer`, in the current scope. */
  const rpcServer = (options: TlsOptions.ServerOptions) =>
    Effect.gen(function*() {
      const server = yield* TlsSocketServer.make(options)
      yield* Layer.build(
        RpcServer.layer(Greeter).pipe(
          Layer.provide(greeterHandlers),
          Layer.provide(RpcServer.layerProtocolSocketServer),
          Layer.provide(Layer.succeed(SocketServer.SocketServer, server)),
          Layer.provide(RpcSerialization.layerNdjson)
        )
      )
      return server.address as SocketServer.TcpAddress
    })

  /** An RPC client of `Greeter` over `TlsSocket.layer(options)`, reconnecting every 20 ms. */
  const rpcClient = (options: TlsOptions.ClientOptions) =>
    Effect.gen(function*() {
      const protocol = yield* Layer.build(
        RpcClient.layerProtocolSocket({ retrySchedule: Schedule.spaced("20 millis") }).pipe(
          Layer.provide(TlsSocket.layer(options)),
          Layer.provide(RpcSerialization.layerNdjson)
        )
      )
      return yield* RpcClient.make(Greeter).pipe(Effect.provide(protocol))
    })

  describe(`TlsSocket and TlsSocketServer: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      describe("Socket", () => {
        it.scoped("a writer taken before run waits for the connection; the peer's close_notify ends run cleanly", () =>
          Effect.gen(function*() {
            const port = yield* serving(serverOptions(), echoThenClose(4))
            const socket = yield* TlsSocket.make(clientOptions(port))
            const write = yield* socket.writer
            // Written before any run: it waits for the connection.
            const written = yield* Effect.fork(write("ping"))
            const received: Array<Uint8Array> = []
            yield* socket.run((chunk) => {
              received.push(chunk)
            })
            yield* Fiber.join(written)
            expect(text(received)).toBe("ping")
          }))

        it.scoped("TlsSocket.connection gives the connection of the run in progress", () =>
          Effect.gen(function*() {
            const port = yield* serving(serverOptions({ alpnProtocols: ["h2"] }), echoThenClose(2))
            const socket = yield* TlsSocket.make(clientOptions(port, { alpnProtocols: ["h2"] }))
            const write = yield* socket.writer
            const seen: Array<string> = []
            yield* Effect.fork(write("hi"))
            expect(TlsSocket.connection(socket)).toEqual(Option.none())
            yield* socket.run(() => {
              const c = Option.getOrThrow(TlsSocket.connection(socket))
              seen.push(`${c.info.protocol} ${Option.getOrElse(c.info.alpnProtocol, () => "-")}`)
            })
            expect(seen[0]).toBe("TLSv1.3 h2")
            expect(TlsSocket.connection(socket)).toEqual(Option.none())
          }))

        it.scoped("run again reconnects: a new connection per run, and writes between runs wait for the next one", () =>
          Effect.gen(function*() {
            let accepted = 0
            const port = yield* serving(serverOptions(), (c) => {
              accepted++
              return echoThenClose(3)(c)
            })
            const socket = yield* TlsSocket.make(clientOptions(port))
            const write = yield* socket.writer
            const runOnce = (message: string) =>
              Effect.gen(function*() {
                const received: Array<Uint8Array> = []
                const written = yield* Effect.fork(write(message))
                yield* socket.run((chunk) => {
                  received.push(chunk)
                })
                yield* Fiber.join(written)
                return text(received)
              })
            expect(yield* runOnce("one")).toBe("one")
            expect(yield* runOnce("two")).toBe("two")
            expect(accepted).toBe(2)
          }))

        it.scoped("truncation (a bare FIN, no close_notify) fails run with SocketGenericError Read, cause TlsUnexpectedEof", () =>
          Effect.gen(function*() {
            const server = yield* rawTlsServer(pki)
            const socket = yield* TlsSocket.make(clientOptions(server.port))
            const received: Array<Uint8Array> = []
            const run = yield* Effect.fork(socket.run((chunk) => {
              received.push(chunk)
            }))
            yield* writeThenBareFin(yield* server.peer, "cut off")
            const exit = yield* Fiber.await(run)
            expect(text(received)).toBe("cut off")
            if (truncationIsEnd) {
              // Chosen with allowTruncation: the bare FIN is a clean end.
              expect(exit).toEqual(Exit.void)
              return
            }
            const error = failureOf(exit)
            expect(Socket.isSocketError(error)).toBe(true)
            expect(error).toMatchObject({ _tag: "SocketError", reason: "Read", cause: { _tag: "TlsUnexpectedEof" } })
          }))

        it.scoped("a refused connect fails run with SocketGenericError Open, cause TlsTransportError", () =>
          Effect.gen(function*() {
            const socket = yield* TlsSocket.make(clientOptions(yield* refusedPort))
            const error = failureOf(yield* Effect.exit(socket.run(() => {})))
            expect(error).toMatchObject({
              _tag: "SocketError",
              reason: "Open",
              cause: { _tag: "TlsTransportError", reason: "ConnectRefused" }
            })
          }))

        it.scoped("a certificate that does not verify fails run with SocketGenericError Open, cause TlsCertificateError", () =>
          Effect.gen(function*() {
            const port = yield* serving(serverOptions({ cert: pki.otherServer.chain, key: pki.otherServer.key }), () => Effect.void)
            const socket = yield* TlsSocket.make(clientOptions(port))
            const error = failureOf(yield* Effect.exit(socket.run(() => {})))
            expect(error).toMatchObject({ _tag: "SocketError", reason: "Open", cause: { _tag: "TlsCertificateError" } })
          }))

        it.scoped("a handshake that runs out of time is OpenTimeout, cause TlsTimeoutError", () =>
          Effect.gen(function*() {
            // A TCP listener that never answers the ClientHello.
            const silent = yield* rawServer
            const socket = yield* TlsSocket.make(clientOptions(silent.port, { handshakeTimeout: "200 millis" }))
            const error = failureOf(yield* Effect.exit(socket.run(() => {})))
            expect(error).toMatchObject({
              _tag: "SocketError",
              reason: "OpenTimeout",
              cause: { _tag: "TlsTimeoutError", phase: "handshake" }
            })
          }))

        it.scoped("a CloseEvent 1000 ends run cleanly with close_notify; another code fails run and cuts the connection off", () =>
          Effect.gen(function*() {
            const outcomes: Array<Exit.Exit<Option.Option<Uint8Array>, unknown>> = []
            const done = yield* Deferred.make<void>()
            // The server greets each client once its handshake is done, then reads.
            const port = yield* serving(serverOptions(), (c) =>
              Effect.gen(function*() {
                yield* c.write("!")
                outcomes.push(yield* Effect.exit(c.read))
                if (outcomes.length === 2) yield* Deferred.succeed(done, undefined)
              }))
            const socket = yield* TlsSocket.make(clientOptions(port))
            const write = yield* socket.writer
            // Each run closes on the greeting (from a handler's Effect).
            expect(yield* Effect.exit(socket.run(() => write(new Socket.CloseEvent(1000))))).toEqual(Exit.void)
            const abnormal = yield* Effect.exit(socket.run(() => write(new Socket.CloseEvent(4000, "going away"))))
            expect(failureOf(abnormal)).toMatchObject({
              _tag: "SocketError",
              reason: "Close",
              code: 4000,
              closeReason: "going away"
            })
            yield* Deferred.await(done)
            expect(outcomes[0]).toEqual(Exit.succeed(Option.none()))
            // Cut off without close_notify: the server's read fails (where a
            // bare FIN may read as a clean end, it is one or the other).
            if (!truncationIsEnd) expect(Exit.isFailure(outcomes[1]!)).toBe(true)
            else expect(Exit.isFailure(outcomes[1]!) || Exit.isSuccess(outcomes[1]!) && Option.isNone(outcomes[1].value)).toBe(true)
          }))

        it.scoped("Socket.toChannel over TLS: bytes in, the same bytes back", () =>
          Effect.gen(function*() {
            const port = yield* serving(serverOptions(), (c) => Stream.run(c.stream, c.sink))
            const socket = yield* TlsSocket.make(clientOptions(port))
            const messages = ["hello", " over", " tls"]
            const expected = messages.join("")
            let got = 0
            // The input stays open: the channel's output ends once the echo is in.
            const output = yield* Stream.concat(Stream.fromIterable(messages), Stream.never).pipe(
              Stream.pipeThroughChannel(Socket.toChannel(socket)),
              Stream.takeUntil((chunk) => (got += chunk.length) >= expected.length),
              Stream.runCollect
            )
            expect(text(Chunk.toReadonlyArray(output))).toBe(expected)
          }))

        it.scoped("Socket.toChannel over TLS: the end of the input is close_notify, and the echo still comes back", () =>
          Effect.gen(function*() {
            const port = yield* serving(serverOptions(), (c) => Stream.run(c.stream, c.sink))
            const output = yield* Stream.make("half", "-closed").pipe(
              Stream.pipeThroughChannel(TlsSocket.makeChannel(clientOptions(port))),
              Stream.runCollect
            )
            const got = text(Chunk.toReadonlyArray(output))
            if (differences.noHalfClose) {
              // Pinned: the client stops reading once it has sent its
              // close_notify, so the echo is lost; the channel still ends cleanly.
              expect("half-closed".startsWith(got)).toBe(true)
            } else {
              expect(got).toBe("half-closed")
            }
          }))
      })

      describe("SocketServer", () => {
        it.scoped("binds port 0, gives each connection to the handler as a Socket, with its TlsConnection", () =>
          Effect.gen(function*() {
            const server = yield* TlsSocketServer.make(mutual())
            const address = server.address as SocketServer.TcpAddress
            expect(address).toMatchObject({ _tag: "TcpAddress", hostname: "127.0.0.1" })
            expect(address.port).toBeGreaterThan(0)
            const peers: Array<string> = []
            yield* Effect.forkScoped(server.run((socket) =>
              Effect.gen(function*() {
                const connection = Option.getOrThrow(TlsSocket.connection(socket))
                peers.push(Option.getOrThrow(connection.info.peerCertificate).subject.CN ?? "")
                const write = yield* socket.writer
                yield* socket.run((chunk) => write(decoder.decode(chunk).toUpperCase()))
              })
            ))
            const client = yield* Tls.connect(withClientCertificate(address.port))
            yield* client.write("shout")
            expect((yield* collect(client, 5)).toString()).toBe("SHOUT")
            expect(peers).toEqual(["test client"])
          }))

        it.scoped("a client that truncates fails the server socket's run with SocketGenericError Read", () =>
          Effect.gen(function*() {
            const server = yield* TlsSocketServer.make(serverOptions())
            const outcome = yield* Deferred.make<Exit.Exit<void, unknown>>()
            yield* Effect.forkScoped(server.run((socket) =>
              Effect.flatMap(Effect.exit(socket.run(() => {})), (exit) => Deferred.succeed(outcome, exit))
            ))
            const peer = yield* rawTlsClient(pki, (server.address as SocketServer.TcpAddress).port)
            yield* writeThenBareFin(peer, "cut")
            if (truncationIsEnd) {
              expect(yield* Deferred.await(outcome)).toEqual(Exit.void)
              return
            }
            expect(failureOf(yield* Deferred.await(outcome))).toMatchObject({
              _tag: "SocketError",
              reason: "Read",
              cause: { _tag: "TlsUnexpectedEof" }
            })
          }))

        it.scoped("a bind that fails is SocketServerError Open, cause the TlsError", () =>
          Effect.gen(function*() {
            const port = yield* serving(serverOptions(), () => Effect.void)
            const error = yield* Effect.flip(TlsSocketServer.make(serverOptions({ port })))
            expect(error).toMatchObject({ _tag: "SocketServerError", reason: "Open", cause: { _tag: "TlsTransportError" } })
          }))
      })

      describe("@effect/rpc over mutual TLS", () => {
        it.scoped("calls succeed, concurrently, with a client certificate", () =>
          Effect.gen(function*() {
            const { port } = yield* rpcServer(mutual())
            const client = yield* rpcClient(withClientCertificate(port))
            const names = Array.from({ length: 20 }, (_, i) => `client ${i}`)
            const replies = yield* Effect.forEach(names, (name) => client.Greet({ name }), { concurrency: "unbounded" })
            expect(replies).toEqual(names.map((name) => `hello ${name}`))
          }))

        it.scoped("without a certificate (TLS 1.3) the call fails: RpcClientError Protocol, SocketError Read, TlsAlertError certificate_required", () =>
          Effect.gen(function*() {
            const { port } = yield* rpcServer(mutual())
            const client = yield* rpcClient(clientOptions(port))
            const error = yield* Effect.flip(client.Greet({ name: "anonymous" }))
            expect(error).toBeInstanceOf(RpcClientError.RpcClientError)
            expect(error.reason).toBe("Protocol")
            const socketError = error.cause
            expect(Socket.isSocketError(socketError)).toBe(true)
            expect(socketError).toMatchObject({ reason: "Read" })
            expect((socketError as Socket.SocketGenericError).cause).toMatchObject({
              _tag: "TlsAlertError",
              alert: "certificate_required",
              direction: "received"
            })
            expect(TlsSocket.findTlsError(error)).toEqual(Option.some((socketError as Socket.SocketGenericError).cause))
            // The server goes on serving clients that have one.
            const withCertificate = yield* rpcClient(withClientCertificate(port))
            expect(yield* withCertificate.Greet({ name: "next" })).toBe("hello next")
          }))

        it.scoped("without a certificate (TLS 1.2) the call fails: RpcClientError Protocol, SocketError Open, TlsAlertError handshake_failure", () =>
          Effect.gen(function*() {
            const { port } = yield* rpcServer(mutual())
            const client = yield* rpcClient(clientOptions(port, { maxVersion: "TLSv1.2" }))
            const error = yield* Effect.flip(client.Greet({ name: "anonymous" }))
            expect(error.reason).toBe("Protocol")
            expect(error.cause).toMatchObject({
              _tag: "SocketError",
              reason: "Open",
              cause: { _tag: "TlsAlertError", alert: "handshake_failure", direction: "received" }
            })
          }))

        it.scoped("a response cut off by a bare FIN fails the call: RpcClientError Protocol, SocketError Read, TlsUnexpectedEof", () =>
          Effect.gen(function*() {
            const server = yield* rawTlsServer(pki)
            const client = yield* rpcClient(clientOptions(server.port))
            const call = yield* Effect.fork(client.Greet({ name: "truncated" }))
            // While the call is pending: half a response, then the TCP FIN.
            const peer = yield* server.peer
            yield* writeThenBareFin(peer, "{\"_tag\":\"Exit\",\"requestId\":\"0\",\"ex")
            const error = failureOf(yield* Fiber.await(call))
            if (truncationIsEnd) {
              // Chosen with allowTruncation: the connection ended cleanly, which
              // RpcClient reports as a close (code 1000), no TLS error behind it.
              expect(error).toMatchObject({ _tag: "RpcClientError", reason: "Protocol", cause: { reason: "Close", code: 1000 } })
              expect(TlsSocket.findTlsError(error)).toEqual(Option.none())
              return
            }
            expect(error).toMatchObject({
              _tag: "RpcClientError",
              reason: "Protocol",
              cause: { _tag: "SocketError", reason: "Read", cause: { _tag: "TlsUnexpectedEof" } }
            })
            expect(TlsSocket.findTlsError(error)).toMatchObject(Option.some({ _tag: "TlsUnexpectedEof", phase: "read" }))
          }))

        it.scoped("the client's reconnect schedule survives a server restart on the same port", () =>
          Effect.gen(function*() {
            const first = yield* Scope.make()
            const { port } = yield* Scope.extend(rpcServer(mutual()), first)
            const client = yield* rpcClient(withClientCertificate(port))
            expect(yield* client.Greet({ name: "before" })).toBe("hello before")

            yield* Scope.close(first, Exit.void)
            // Down: calls fail with the socket's error until a reconnect succeeds.
            const down = yield* Effect.flip(client.Greet({ name: "while down" }).pipe(
              Effect.repeat({ until: () => false })
            ))
            expect(down).toBeInstanceOf(RpcClientError.RpcClientError)
            // A clean close (the server's close_notify) or a refused reconnect.
            expect(Option.map(TlsSocket.findTlsError(down), (e) => e._tag)).not.toEqual(Option.some("TlsUnexpectedEof"))

            yield* rpcServer(mutual({ port }))
            const after = yield* client.Greet({ name: "after" }).pipe(
              Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.upTo("20 seconds")))
            )
            expect(after).toBe("hello after")
          }))
      })
    })
  })
}

/** What a runtime package gives: `NodeTlsSocket`, `BunTlsSocket`. */
export interface RuntimeSocketLayers {
  readonly layer: (options: TlsOptions.ClientOptions) => Layer.Layer<Socket.Socket>
  readonly layerServer: (options: TlsOptions.ServerOptions) => Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError>
}

/** The runtime's own layers (its `Tls` already provided), end to end: an RPC call over mutual TLS. */
export const runtimeSocketLayers = (name: string, layers: RuntimeSocketLayers) => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const { clientOptions, serverOptions } = optionsFor(pki)
  describe(`${name}.layer and ${name}.layerServer`, () => {
    it.scopedLive("an RPC call over mutual TLS; without a certificate, TlsAlertError certificate_required", () =>
      Effect.gen(function*() {
        const server = yield* Layer.build(layers.layerServer(serverOptions({ requestCert: true, ca: pki.root.cert })))
        const { port } = Context.get(server, SocketServer.SocketServer).address as SocketServer.TcpAddress
        yield* Layer.build(
          RpcServer.layer(Greeter).pipe(
            Layer.provide(greeterHandlers),
            Layer.provide(RpcServer.layerProtocolSocketServer),
            Layer.provide(Layer.succeedContext(server)),
            Layer.provide(RpcSerialization.layerNdjson)
          )
        )
        const client = (options: TlsOptions.ClientOptions) =>
          Effect.flatMap(
            Layer.build(
              RpcClient.layerProtocolSocket().pipe(
                Layer.provide(layers.layer(options)),
                Layer.provide(RpcSerialization.layerNdjson)
              )
            ),
            (protocol) => RpcClient.make(Greeter).pipe(Effect.provide(protocol))
          )
        const trusted = yield* client(clientOptions(port, { cert: pki.client.chain, key: pki.client.key }))
        expect(yield* trusted.Greet({ name: name })).toBe(`hello ${name}`)
        const anonymous = yield* client(clientOptions(port))
        const error = yield* Effect.flip(anonymous.Greet({ name: "anonymous" }))
        expect(TlsSocket.findTlsError(error)).toMatchObject(
          Option.some({ _tag: "TlsAlertError", alert: "certificate_required", direction: "received" })
        )
      }), { timeout: 60_000 })
  })
}
