/**
 * The key log is never on by default: an engine made without the `keylog`
 * option asks node:tls for no key log lines (it has no `onKeylog`), one
 * made with it does; and on Node a connection with a keylog keeps the path
 * its options chose (node:tls on the TCP handle with `allowTruncation`).
 */
import { describe, expect, it } from "@effect/vitest"
import * as Tls from "@effect-tls/core/Tls"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as NodeTls from "@effect-tls/node/NodeTls"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import { Effect, Fiber } from "effect"
import { afterAll } from "vitest"
import { generatePki } from "./src/pki.js"
import { watching } from "./src/under.js"

describe("NodeTls: keylog is opt-in", () => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const keylog: TlsOptions.Keylog = () => Effect.void

  it.scoped("a client engine made without keylog has no key log listener; with one it has", () =>
    Effect.gen(function*() {
      const base = { host: "localhost", port: 443, ca: pki.root.cert }
      const off = yield* (yield* NodeTlsEngine.makeClientFactory(yield* TlsOptions.decodeClient(base))).make({ remoteAddress: undefined })
      const on = yield* (yield* NodeTlsEngine.makeClientFactory(yield* TlsOptions.decodeClient({ ...base, keylog }))).make({
        remoteAddress: undefined
      })
      expect(off.secrets?.onKeylog).toBeUndefined()
      expect(typeof off.secrets?.exportKeyingMaterial).toBe("function")
      expect(typeof on.secrets?.onKeylog).toBe("function")
      yield* off.destroy
      yield* on.destroy
    }))

  it.scoped("a server engine made without keylog has no key log listener; with one it has", () =>
    Effect.gen(function*() {
      const base = { cert: pki.server.chain, key: pki.server.key }
      const off = yield* (yield* NodeTlsEngine.makeServerFactory(yield* TlsOptions.decodeServer(base))).make({ remoteAddress: undefined })
      const on = yield* (yield* NodeTlsEngine.makeServerFactory(yield* TlsOptions.decodeServer({ ...base, keylog }))).make({
        remoteAddress: undefined
      })
      expect(off.secrets?.onKeylog).toBeUndefined()
      expect(typeof on.secrets?.onKeylog).toBe("function")
      yield* off.destroy
      yield* on.destroy
    }))

  it.scoped("with allowTruncation and a keylog, both ends still run node:tls on the TCP socket", () =>
    Effect.gen(function*() {
      const lines: Array<string> = []
      const collect: TlsOptions.Keylog = (line) => Effect.sync(() => void lines.push(line))
      const s = yield* Tls.listen({
        host: "127.0.0.1",
        port: 0,
        cert: pki.server.chain,
        key: pki.server.key,
        allowTruncation: true,
        keylog: collect
      })
      const under = yield* watching(Effect.gen(function*() {
        const accepting = yield* Effect.fork(s.accept)
        yield* Tls.connect({
          host: "127.0.0.1",
          port: s.address.port,
          servername: "localhost",
          ca: pki.root.cert,
          allowTruncation: true,
          keylog: collect
        })
        yield* Fiber.join(accepting)
      }))
      expect(under).toEqual(["tcp", "tcp"])
      expect(lines).toHaveLength(10)
    }).pipe(Effect.provide(NodeTls.layer)))
})
