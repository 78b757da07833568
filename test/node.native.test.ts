/**
 * Which path a Node connection takes: node:tls on the TCP socket itself
 * only where the options say `allowTruncation`, for clients, servers (with
 * or without resolvers) and `upgrade` over a NodeTransport socket; an
 * in-memory stream everywhere else. The conformance suite checks what each
 * path does; this file checks that the path is the one the options chose,
 * so a silent fall-back to the other path would not go unnoticed.
 *
 * It watches what node:tls is given to run on (`TLSSocket.prototype._init`
 * receives the socket under the TLS socket).
 */
import { describe, expect, layer } from "@effect/vitest"
import * as SniResolver from "@effect-tls/core/SniResolver"
import * as Tls from "@effect-tls/core/Tls"
import * as NodeTls from "@effect-tls/node/NodeTls"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import { Effect, Fiber } from "effect"
import { afterAll } from "vitest"
import { generatePki } from "./src/pki.js"
import { watching } from "./src/under.js"

describe("NodeTls.layer: the path follows allowTruncation", () => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const server = (extra: object = {}) => ({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key, ...extra })
  const client = (port: number, extra: object = {}) => ({ host: "127.0.0.1", port, servername: "localhost", ca: pki.root.cert, ...extra })

  /** One connection, both ends made by `Tls.listen` / `Tls.connect` with these options. */
  const pair = (serverExtra: object, clientExtra: object) =>
    Effect.scoped(Effect.gen(function*() {
      const s = yield* Tls.listen(server(serverExtra))
      const accepting = yield* Effect.fork(s.accept)
      const c = yield* Tls.connect(client(s.address.port, clientExtra))
      const accepted = yield* Fiber.join(accepting)
      yield* c.write("ping")
      yield* accepted.read
    }))

  layer(NodeTls.layer, { excludeTestServices: true })((it) => {
    it.scoped("by default both ends run node:tls over an in-memory stream", () =>
      Effect.gen(function*() {
        expect(yield* watching(pair({}, {}))).toEqual(["stream", "stream"])
      }))

    it.scoped("with allowTruncation both ends run node:tls on the TCP socket", () =>
      Effect.gen(function*() {
        const seen = yield* watching(pair({ allowTruncation: true }, { allowTruncation: true }))
        expect(seen).toEqual(["tcp", "tcp"])
      }))

    it.scoped("each end chooses for itself", () =>
      Effect.gen(function*() {
        const seen = yield* watching(pair({ allowTruncation: true }, {}))
        expect([...seen].sort()).toEqual(["stream", "tcp"])
      }))

    it.scoped("a server with an SniResolver decides from the ClientHello and still runs on the TCP socket", () =>
      Effect.gen(function*() {
        const resolver = SniResolver.layerRecord({ localhost: { cert: pki.server.chain, key: pki.server.key } })
        const seen = yield* watching(
          pair({ allowTruncation: true }, {}).pipe(Effect.provide(resolver))
        )
        expect([...seen].sort()).toEqual(["stream", "tcp"])
      }))

    it.scoped("upgrade with allowTruncation over a NodeTransport socket runs on that socket", () =>
      Effect.gen(function*() {
        const seen = yield* watching(Effect.scoped(Effect.gen(function*() {
          const listener = yield* NodeTransport.listen("127.0.0.1", 0, undefined)
          const accepting = yield* Effect.fork(Effect.flatMap(listener.accept, (t) =>
            Tls.upgrade(t, { role: "server", cert: pki.server.chain, key: pki.server.key, allowTruncation: true })))
          const t = yield* NodeTransport.connect("127.0.0.1", listener.address.port)
          const c = yield* Tls.upgrade(t, { role: "client", servername: "localhost", ca: pki.root.cert, allowTruncation: true })
          const s = yield* Fiber.join(accepting)
          yield* c.write("ping")
          yield* s.read
        })))
        expect(seen).toEqual(["tcp", "tcp"])
      }))
  })
})
