/**
 * Keylog and exported keying material inside Bun, on both of BunTls's
 * paths, against OpenSSL (test/interop/secretsSuite.ts, the same suite as
 * Node's), and the key log hook of Bun's native TLS sockets, which Bun's
 * types do not declare (pinned, so an upgrade that drops it is noticed).
 */
import { describe, expect, layer } from "@effect/vitest"
import * as BunTls from "@effect-tls/bun/BunTls"
import * as Tls from "@effect-tls/core/Tls"
import * as TlsConnection from "@effect-tls/core/TlsConnection"
import { Effect, Fiber } from "effect"
import { afterAll, beforeAll, it } from "vitest"
import { secretsInterop } from "./interop/secretsSuite.js"
import { generatePki, type Pki } from "./src/pki.js"

const onBun = "Bun" in globalThis
/** Bun's global (the test project has no Bun types). */
const Bun = (globalThis as { Bun?: any }).Bun

if (onBun) {
  secretsInterop("BunTls.layer (node:tls engine over Bun sockets)", BunTls.layer)
    secretsInterop("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, {
    common: { allowTruncation: true }
  })
}

describe.runIf(onBun)("Bun's native TLS sockets and key logs", () => {
  let pki: Pki
  beforeAll(() => {
    pki = generatePki()
  })
  afterAll(() => pki?.cleanup())

  /** One connection over loopback, both ends made with these options. */
  const pair = (extra: { readonly allowTruncation?: boolean; readonly keylog?: (line: string) => Effect.Effect<void> }) =>
    Effect.gen(function*() {
      const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key, ...extra })
      const accepting = yield* Effect.fork(server.accept)
      const client = yield* Tls.connect({ host: "localhost", port: server.address.port, ca: pki.root.cert, ...extra })
      return { client, server: yield* Fiber.join(accepting) }
    })

  it("pinned: Bun's own TLS sockets report key log lines to a `keylog` handler that bun-types does not declare", async () => {
    const lines: Array<string> = []
    let handshakes = 0
    let resolve = () => {}
    const done = new Promise<void>((r) => {
      resolve = r
    })
    const handlers = {
      handshake: () => {
        if (++handshakes === 2) resolve()
      },
      data: () => {},
      // Called by Bun 1.4.5 with (socket, line); not in bun-types 1.4.4's SocketHandler.
      keylog: (_: unknown, line: Uint8Array) => void lines.push(Buffer.from(line).toString("latin1"))
    }
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, tls: { cert: pki.server.chain, key: pki.server.key }, socket: handlers })
    const client = await Bun.connect({
      hostname: "127.0.0.1",
      port: server.port,
      tls: { ca: pki.root.cert, serverName: "localhost" },
      socket: handlers
    })
    await done
    client.terminate()
    server.stop(true)
    // Five TLS 1.3 secrets from each end, each a whole line with its line break.
    expect(lines).toHaveLength(10)
    expect(new Set(lines).size).toBe(5)
    for (const line of lines) expect(line).toMatch(/^[A-Z_0-9]+ [0-9a-f]{64} [0-9a-f]+\n$/)
  })

  layer(BunTls.layer, { excludeTestServices: true })("BunTls.layer with allowTruncation", (it) => {
    it.scoped("without keylog: the native sockets (leaf only), and their exported keys agree", () =>
      Effect.gen(function*() {
        const { client, server } = yield* pair({ allowTruncation: true })
        expect(client.info.peerCertificateChain).toHaveLength(1)
        const key = yield* client.exportKeyingMaterial(32, "EXPERIMENTAL-bun")
        expect(yield* server.exportKeyingMaterial(32, "EXPERIMENTAL-bun")).toEqual(key)
        expect(yield* TlsConnection.tlsExporter(server)).toEqual(yield* TlsConnection.tlsExporter(client))
      }))

    it.scoped("with keylog: still the native sockets (leaf only), and both ends log the same lines", () =>
      Effect.gen(function*() {
        const lines: Array<string> = []
        yield* Effect.scoped(Effect.gen(function*() {
          const { client } = yield* pair({ allowTruncation: true, keylog: (line) => Effect.sync(() => void lines.push(line)) })
          expect(client.info.peerCertificateChain).toHaveLength(1)
        }))
        // Five TLS 1.3 secrets, each logged by both ends.
        expect(lines).toHaveLength(10)
        expect(new Set(lines).size).toBe(5)
      }))
  })
})

describe.skipIf(onBun)("keylog and exported keying material, inside Bun", () => {
  it.skip("runs only inside Bun (npm test's Bun run)", () => {})
})
