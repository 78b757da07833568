/**
 * One program, two runtimes: a TLS server and client on loopback that run
 * unchanged under Node (with NodeTls.layer) and under Bun (with
 * BunTls.layer). Only the edge (`main`, at the bottom) knows the runtime;
 * the program asks for `Tls` and nothing else. It prints a report that
 * must be the same on both (test/bun.swap.test.ts runs both and compares).
 *
 *   node test/dist/src/swap.js
 *   bun  test/dist/src/swap.js
 */
import { Tls } from "@effect-tls/core"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import { Cause, Console, Effect, Exit, type Layer, Option, Stream } from "effect"
import { rawTlsServer, writeThenBareFin } from "../conformance/support.js"
import { createHash } from "node:crypto"
import * as net from "node:net"
import { generatePki } from "./pki.js"

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex").slice(0, 16)

/** Read exactly `n` bytes. */
const readExactly = (c: TlsConnection, n: number) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    let got = 0
    while (got < n) {
      const chunk = yield* c.read
      if (Option.isNone(chunk)) return yield* Effect.dieMessage(`closed after ${got} of ${n} bytes`)
      chunks.push(chunk.value)
      got += chunk.value.length
    }
    return Buffer.concat(chunks)
  })

/** A port on 127.0.0.1 that nothing listens on. */
const freePort = Effect.async<number>((resume) => {
  const s = net.createServer()
  s.listen(0, "127.0.0.1", () => {
    const port = (s.address() as net.AddressInfo).port
    s.close(() => resume(Effect.succeed(port)))
  })
})

/** `_tag` and the fields that say what went wrong, for the report. */
const describe = (e: unknown) => {
  const o = e as Record<string, unknown>
  // TlsConfigError's `reason` is the TLS library's own message: name the option instead.
  const keys = o._tag === "TlsConfigError" ? ["option"] : ["reason", "code", "alert", "direction", "phase"]
  const fields = keys.filter((k) => typeof o[k] === "string")
  return [o._tag, ...fields.map((k) => `${k}=${o[k]}`)].join(" ")
}

/** How a read ended, for the report. */
const ending = (exit: Exit.Exit<Option.Option<Uint8Array>, unknown>) =>
  Exit.match(exit, {
    onFailure: (cause) => Option.match(Cause.failureOption(cause), { onNone: () => "defect", onSome: describe }),
    onSuccess: (chunk) => (Option.isNone(chunk) ? "clean end" : "data")
  })

/**
 * The program, with `common` options on every connection: the default
 * (strict close semantics) or `{ allowTruncation: true }` (the runtime's
 * native TLS where it has one).
 */
const program = (common: { readonly allowTruncation?: boolean }) => Effect.gen(function*() {
  const pki = yield* Effect.acquireRelease(Effect.sync(generatePki), (p) => Effect.sync(p.cleanup))
  const lines: Array<string> = []
  const report = (line: string) => Effect.sync(() => lines.push(line))
  yield* report(`== options ${JSON.stringify(common)}`)

  // Close semantics: a raw TLS peer sends data, then ends TCP with or without close_notify.
  for (const farewell of ["close_notify", "bare FIN"] as const) {
    yield* Effect.scoped(Effect.gen(function*() {
      const raw = yield* rawTlsServer(pki)
      const client = yield* Tls.connect({ host: "localhost", port: raw.port, ca: pki.root.cert, ...common })
      const peer = yield* raw.peer
      if (farewell === "close_notify") peer.tls.end("last words")
      else yield* writeThenBareFin(peer, "last words")
      const words = yield* readExactly(client, 10)
      yield* report(`${farewell} after "${Buffer.from(words).toString()}": ${ending(yield* Effect.exit(client.read))}`)
    }))
  }

  // The server echoes each connection's bytes until the client's close_notify.
  const server = yield* Tls.listen({
    host: "127.0.0.1",
    port: 0,
    cert: pki.server.chain,
    key: pki.server.key,
    alpnProtocols: ["h2", "http/1.1"],
    ...common
  })
  yield* Effect.forkScoped(server.serve((c) => Stream.run(c.stream, c.sink)))
  const port = server.address.port

  // A verified client: what was negotiated, and 4 MiB echoed.
  yield* Effect.scoped(Effect.gen(function*() {
    const client = yield* Tls.connect({
      host: "localhost",
      port,
      ca: pki.root.cert,
      alpnProtocols: ["http/1.1", "h2"],
      ...common
    })
    const { info } = client
    const cert = Option.getOrThrow(info.peerCertificate)
    yield* report(`protocol ${info.protocol}`)
    yield* report(`cipher is a TLS 1.3 AEAD suite ${/^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/.test(info.cipher)}`)
    yield* report(`alpn ${Option.getOrElse(info.alpnProtocol, () => "(none)")}`)
    yield* report(`servername ${Option.getOrElse(info.servername, () => "(none)")}`)
    yield* report(`verified ${info.authorized}`)
    yield* report(`subject CN=${cert.subject.CN} issuer CN=${cert.issuer.CN}`)
    const payload = Buffer.alloc(4 * 1024 * 1024)
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 2654435761) >>> 24
    const echoed = yield* Effect.zipRight(
      Effect.forkScoped(client.write(payload)),
      readExactly(client, payload.length)
    )
    yield* report(`echoed ${echoed.length} bytes, sha256 ${sha256(echoed)} (sent ${sha256(payload)})`)
    yield* client.shutdown
  }))

  // A TLS 1.2 client with a chosen suite.
  const v12 = yield* Tls.connect({
    host: "localhost",
    port,
    ca: pki.root.cert,
    maxVersion: "TLSv1.2",
    ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256",
    ...common
  }).pipe(Effect.scoped)
  yield* report(`tls 1.2 ${v12.info.protocol} ${v12.info.cipher}`)

  // The same typed errors on every runtime.
  const failures: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown, Tls.Tls>]> = [
    ["untrusted CA", Tls.connect({ ...common, host: "localhost", port, ca: pki.otherRoot.cert }).pipe(Effect.scoped)],
    ["wrong host name", Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert, servername: "example.org" }).pipe(Effect.scoped)],
    ["TLS 1.3 only against TLS 1.2 at most", Effect.scoped(Effect.gen(function*() {
      const old = yield* Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key, maxVersion: "TLSv1.2" })
      yield* Effect.forkScoped(old.serve(() => Effect.void))
      return yield* Tls.connect({ ...common, host: "localhost", port: old.address.port, ca: pki.root.cert, minVersion: "TLSv1.3" })
    }))],
    ["nobody listening", Effect.flatMap(freePort, (p) => Tls.connect({ ...common, host: "127.0.0.1", port: p, ca: pki.root.cert }).pipe(Effect.scoped))],
    ["a key that does not match", Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.client.key }).pipe(Effect.scoped)],
    ["port in use", Tls.listen({ ...common, host: "127.0.0.1", port, cert: pki.server.chain, key: pki.server.key }).pipe(Effect.scoped)]
  ]
  for (const [title, attempt] of failures) {
    const error = yield* Effect.flip(attempt)
    yield* report(`${title}: ${describe(error)}`)
  }
  return lines
})

/** The edge: the one place that knows which runtime this is. */
const main = async () => {
  const layer: Layer.Layer<Tls.Tls> = "Bun" in globalThis
    ? (await import("@effect-tls/bun")).BunTls.layer
    : (await import("@effect-tls/node")).NodeTls.layer
  for (const common of [{}, { allowTruncation: true }]) {
    const lines = await program(common).pipe(Effect.scoped, Effect.provide(layer), Effect.runPromise)
    await Effect.runPromise(Console.log(lines.join("\n")))
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
