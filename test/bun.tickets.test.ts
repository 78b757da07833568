/**
 * Server ticket keys on Bun. Bun cannot set them: its node:tls contexts
 * have no `setTicketKeys` and its `createSecureContext` ignores the
 * `ticketKeys` option (oven-sh/bun#14604; `tls.Server#getTicketKeys`
 * throws "Not implemented"), and `Bun.listen` has no ticket key option. So
 * `ticketKeys` (or a `TicketKeys` service) fails with `TlsConfigError` on
 * both paths (a server with keys never takes Bun's native listener), and
 * the pin below fails once Bun honours the option, to say it may be used.
 *
 * `openssl s_client -sess_out` / `-sess_in` runs against our Bun server
 * too (its own context's tickets). Runs only inside Bun.
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import * as net from "node:net"
import * as tls from "node:tls"
import { afterAll, describe, expect, it } from "vitest"
import { generatePki } from "./src/pki.js"
import { ticketSuite } from "./tickets/suite.js"

if ("Bun" in globalThis) {
  ticketSuite("BunTls.layer (sans-IO)", BunTls.layer, { ticketKeys: false })
  ticketSuite("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, {
    common: { allowTruncation: true },
    ticketKeys: false
  })

  describe("Bun's node:tls and ticket keys (pinned)", () => {
    const pki = generatePki()
    afterAll(() => pki.cleanup())

    /** A server on a context of its own, and a client offering `session`: whether it resumed, and its sessions. */
    const serve = (context: tls.SecureContext) =>
      new Promise<net.Server>((resolve) => {
        const s = net.createServer((socket) => {
          const t = new tls.TLSSocket(socket, { isServer: true, secureContext: context })
          t.on("secure", () => t.end("hi"))
          t.on("error", () => {})
        })
        s.listen(0, "127.0.0.1", () => resolve(s))
      })
    const connect = (port: number, session?: Buffer) =>
      new Promise<{ reused: boolean; sessions: Array<Buffer> }>((resolve, reject) => {
        const sessions: Array<Buffer> = []
        let reused = false
        const c = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: pki.root.cert, ...(session ? { session } : {}) }, () => {
          reused = c.isSessionReused()
        })
        c.on("session", (s: Buffer) => sessions.push(s))
        c.on("data", () => {})
        c.on("end", () => {
          c.end()
          setTimeout(() => resolve({ reused, sessions }), 20)
        })
        c.on("error", reject)
      })

    it("two contexts made with the same ticketKeys do not resume each other's sessions, and have no setTicketKeys", () =>
      Effect.runPromise(Effect.promise(async () => {
        const keys = randomBytes(48)
        const options = { cert: pki.server.chain, key: pki.server.key, ticketKeys: keys }
        const one = tls.createSecureContext(options)
        const two = tls.createSecureContext(options)
        expect(typeof (one as { context?: { setTicketKeys?: unknown } }).context?.setTicketKeys).toBe("undefined")
        const [a, b] = [await serve(one), await serve(two)]
        try {
          const first = await connect((a.address() as net.AddressInfo).port)
          expect(first.sessions.length).toBeGreaterThan(0)
          // The server that made it takes it back: resumption works within one context.
          expect((await connect((a.address() as net.AddressInfo).port, first.sessions.at(-1))).reused).toBe(true)
          // The same keys in another context: ignored, a full handshake.
          expect((await connect((b.address() as net.AddressInfo).port, first.sessions.at(-1))).reused).toBe(false)
        } finally {
          a.close()
          b.close()
        }
      })))
  })
} else {
  describe("BunTls", () => {
    it.skip("runs only inside Bun (npm test runs it with bun --bun vitest)", () => {})
  })
}
