/**
 * Bun-only behaviour of BunTls's two paths that the conformance suite
 * cannot express in general terms: which path a call takes (the native
 * one only with `allowTruncation`), and how a connection that ends
 * without close_notify reads on each.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as BunTls from "@effect-tls/bun/BunTls"
import * as BunTransport from "@effect-tls/bun/BunTransport"
import * as Tls from "@effect-tls/core/Tls"
import { Effect, Fiber, Option } from "effect"
import { afterAll, beforeAll, it } from "vitest"
import { generatePki, type Pki } from "./src/pki.js"

const onBun = "Bun" in globalThis

describe.runIf(onBun)("BunTls on Bun", () => {
  // Made in beforeAll, not while collecting: a skipped suite (on Node) runs
  // no afterAll, and would leave its keys behind in the temp directory.
  let pki: Pki
  beforeAll(() => {
    pki = generatePki()
  })
  afterAll(() => pki?.cleanup())

  /**
   * A TLS server whose transport we hold: after the handshake it ends the
   * TCP write side without close_notify (truncation), or shuts TLS down
   * properly, then waits for the client to go.
   */
  const server = (mode: "truncate" | "close_notify") =>
    Effect.gen(function*() {
      const listener = yield* BunTransport.listen("127.0.0.1", 0)
      yield* Effect.forkScoped(Effect.scoped(Effect.gen(function*() {
        const transport = yield* listener.accept
        const c = yield* Tls.upgrade(transport, { role: "server", cert: pki.server.chain, key: pki.server.key }).pipe(
          Effect.provide(BunTls.layerSansIo)
        )
        yield* c.write("last words")
        // `write` completes once the bytes are buffered: let them leave first.
        if (mode === "truncate") yield* Effect.zipRight(Effect.sleep("100 millis"), transport.end)
        else yield* c.shutdown
        yield* Effect.never
      })))
      return listener.address.port
    })

  const readAll = (port: number, allowTruncation = false) =>
    Effect.gen(function*() {
      const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert, allowTruncation })
      const first = yield* c.read
      expect(Buffer.from(Option.getOrThrow(first)).toString()).toBe("last words")
      return yield* c.read.pipe(Effect.exit)
    })

  layer(BunTls.layer, { excludeTestServices: true })("default (strict): the sans-IO client", (it) => {
    it.scoped("a connection truncated after data fails with TlsUnexpectedEof", () =>
      Effect.gen(function*() {
        const exit = yield* readAll(yield* server("truncate"))
        expect(exit).toMatchObject({ _tag: "Failure" })
        expect(JSON.stringify(exit)).toContain("TlsUnexpectedEof")
      }))

    it.scoped("the client is node:tls over a Duplex, not a native socket: it sees the server's whole chain", () =>
      Effect.gen(function*() {
        const s = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
        yield* Effect.forkScoped(s.serve(() => Effect.void))
        const c = yield* Tls.connect({ host: "localhost", port: s.address.port, ca: pki.root.cert })
        // Bun's native sockets expose the leaf only (see the allowTruncation tests).
        expect(c.info.peerCertificateChain.length).toBeGreaterThan(1)
      }))
  })

  layer(BunTls.layer, { excludeTestServices: true })("allowTruncation: the native client", (it) => {
    it.scoped("the client is Bun's native socket: it sees the server's leaf only", () =>
      Effect.gen(function*() {
        const s = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
        yield* Effect.forkScoped(s.serve(() => Effect.void))
        const c = yield* Tls.connect({ host: "localhost", port: s.address.port, ca: pki.root.cert, allowTruncation: true })
        expect(c.info.peerCertificateChain.length).toBe(1)
      }))

    it.scoped("a connection truncated after data reads as a clean end (the trade allowTruncation makes)", () =>
      Effect.gen(function*() {
        const exit = yield* readAll(yield* server("truncate"), true)
        expect(exit).toMatchObject({ _tag: "Success", value: Option.none() })
      }))

    it.scoped("close_notify reads as a clean end", () =>
      Effect.gen(function*() {
        const exit = yield* readAll(yield* server("close_notify"), true)
        expect(exit).toMatchObject({ _tag: "Success", value: Option.none() })
      }))

    it.scoped("half-close: the server answers after the client's close_notify (native at both ends)", () =>
      Effect.gen(function*() {
        const s = yield* Tls.listen({
          host: "127.0.0.1",
          port: 0,
          cert: pki.server.chain,
          key: pki.server.key,
          allowTruncation: true
        })
        const handler = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
          const c = yield* s.accept
          const request = yield* c.read
          expect(yield* c.read).toEqual(Option.none()) // the client's close_notify
          yield* c.write(`re: ${Buffer.from(Option.getOrThrow(request)).toString()}`)
        })))
        const client = yield* Tls.connect({ host: "localhost", port: s.address.port, ca: pki.root.cert, allowTruncation: true })
        yield* client.write("question")
        yield* client.shutdown
        const answer = yield* client.read
        expect(Buffer.from(Option.getOrThrow(answer)).toString()).toBe("re: question")
        expect(yield* client.read).toEqual(Option.none())
        yield* Fiber.join(handler)
      }))
  })

  layer(BunTls.layerSansIo, { excludeTestServices: true })("layerSansIo with allowTruncation", (it) => {
    it.scoped("a connection truncated after data reads as a clean end, on the engine", () =>
      Effect.gen(function*() {
        const exit = yield* readAll(yield* server("truncate"), true)
        expect(exit).toMatchObject({ _tag: "Success", value: Option.none() })
      }))
  })
})

describe.skipIf(onBun)("BunTls on Bun", () => {
  it.skip("runs only inside Bun (npm test's Bun run)", () => {})
})
