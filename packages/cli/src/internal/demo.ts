import * as Tls from "@effect-tls/core/Tls"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as DemoPki from "./demoPki.js"

const names = (record: Readonly<Record<string, string>>) =>
  Object.entries(record).map(([k, v]) => `${k}=${v}`).join(", ")

/** @internal */
export const run = Effect.gen(function*() {
  const pki = yield* DemoPki.make

  // Server: echoes whatever it is sent, in upper case.
  const server = yield* Tls.listen({
    host: "127.0.0.1",
    port: 0,
    cert: pki.serverChain,
    key: pki.serverKey,
    alpnProtocols: ["h2", "http/1.1"]
  })
  yield* Effect.forkScoped(
    server.serve((connection) =>
      connection.stream.pipe(
        Stream.map((bytes) => new TextEncoder().encode(new TextDecoder().decode(bytes).toUpperCase())),
        Stream.run(connection.sink)
      )
    )
  )
  yield* Console.log(`server  listening on ${server.address.host}:${server.address.port}`)

  // Client: verifies the server against the generated root CA.
  const client = yield* Tls.connect({
    host: "localhost",
    port: server.address.port,
    ca: pki.rootCert,
    alpnProtocols: ["http/1.1", "h2"]
  })
  const { info } = client
  yield* Console.log(`client  connected to localhost:${server.address.port}`)
  yield* Console.log(`        protocol     ${info.protocol}`)
  yield* Console.log(`        cipher       ${info.cipher}`)
  yield* Console.log(`        alpn         ${Option.getOrElse(info.alpnProtocol, () => "(none)")}`)
  yield* Console.log(`        verified     ${info.authorized}`)
  if (Option.isSome(info.peerCertificate)) {
    const cert = info.peerCertificate.value
    yield* Console.log(`        subject      ${names(cert.subject)}`)
    yield* Console.log(`        issuer       ${names(cert.issuer)}`)
    yield* Console.log(`        valid until  ${cert.validTo.toISOString()}`)
  }

  // The reply is read before closing: the same on every runtime and path
  // (Bun's node:tls has no TLS half-close, so a reply sent after our
  // close_notify would not be read there).
  const request = "hello over tls"
  yield* client.write(request)
  const reply = yield* client.stream.pipe(
    Stream.decodeText(),
    Stream.scan("", (text, piece) => text + piece),
    Stream.takeUntil((text) => text.length >= request.length),
    Stream.runLast,
    Effect.map(Option.getOrElse(() => ""))
  )
  yield* client.shutdown
  yield* Console.log(`client  sent "${request}", got "${reply}", then close_notify`)
}).pipe(Effect.scoped)
