/**
 * The main job: a TLS server and a TLS client on loopback, with
 * certificates generated on the spot, printing what they negotiated.
 *
 *   npm start
 */
import { Tls } from "@effect-tls/core"
import { NodeTls } from "@effect-tls/node"
import { Console, Effect, Option, Stream } from "effect"
import { generatePki } from "./pki.js"

const program = Effect.gen(function*() {
  const pki = yield* Effect.acquireRelease(Effect.sync(generatePki), (p) => Effect.sync(p.cleanup))

  // Server: echoes whatever it is sent, in upper case.
  const server = yield* Tls.listen({
    host: "127.0.0.1",
    port: 0,
    cert: pki.server.chain,
    key: pki.server.key,
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
    ca: pki.root.cert,
    alpnProtocols: ["http/1.1", "h2"]
  })
  const { info } = client
  const cert = Option.getOrThrow(info.peerCertificate)
  yield* Console.log(`client  connected to localhost:${server.address.port}`)
  yield* Console.log(`        protocol     ${info.protocol}`)
  yield* Console.log(`        cipher       ${info.cipher}`)
  yield* Console.log(`        alpn         ${Option.getOrElse(info.alpnProtocol, () => "(none)")}`)
  yield* Console.log(`        verified     ${info.authorized}`)
  yield* Console.log(`        subject      ${Object.entries(cert.subject).map(([k, v]) => `${k}=${v}`).join(", ")}`)
  yield* Console.log(`        issuer       ${Object.entries(cert.issuer).map(([k, v]) => `${k}=${v}`).join(", ")}`)
  yield* Console.log(`        valid until  ${cert.validTo.toISOString()}`)

  yield* client.write("hello over tls")
  yield* client.shutdown
  const reply = yield* client.stream.pipe(Stream.decodeText(), Stream.mkString)
  yield* Console.log(`client  sent "hello over tls", got "${reply}", then close_notify`)
})

program.pipe(Effect.scoped, Effect.provide(NodeTls.layer), Effect.runPromise).catch((error) => {
  console.error(error)
  process.exit(1)
})
