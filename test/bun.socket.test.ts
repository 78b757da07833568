/**
 * The Socket / SocketServer / RPC suite on Bun. It runs only inside Bun
 * (scripts/test-matrix.mjs runs it with `bun --bun vitest`).
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import * as BunTlsSocket from "@effect-tls/bun/BunTlsSocket"
import { describe, it } from "vitest"
import { runtimeSocketLayers, socketConformance } from "./socket/suite.js"

if ("Bun" in globalThis) {
  // Bun's node:tls over a Duplex has no TLS half-close (as in the conformance suite).
  socketConformance("BunTls.layer (sans-IO)", BunTls.layer, { differences: { noHalfClose: true } })
  // Bun's native TLS sockets, where the options allow truncation.
  socketConformance("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, {
    differences: { truncationLooksClean: true },
    common: { allowTruncation: true }
  })
  // `@effect-tls/bun/BunTlsSocket`: the same with `BunTls.layer` provided.
  runtimeSocketLayers("BunTlsSocket", BunTlsSocket)
} else {
  describe("BunTls", () => {
    it.skip("runs only inside Bun (npm test runs it with bun --bun vitest)", () => {})
  })
}
