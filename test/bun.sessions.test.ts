/**
 * Client sessions on Bun. It runs only inside Bun (scripts/test-matrix.mjs
 * runs it with `bun --bun vitest`).
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import { describe, it } from "vitest"
import { sessionSuite } from "./sessions/suite.js"

if ("Bun" in globalThis) {
  // Bun's node:tls over a Duplex.
  sessionSuite("BunTls.layer (sans-IO)", BunTls.layer)
  // Bun's native TLS sockets, where the options allow truncation.
  sessionSuite("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, {
    common: { allowTruncation: true }
  })
} else {
  describe("BunTls", () => {
    it.skip("runs only inside Bun (npm test runs it with bun --bun vitest)", () => {})
  })
}
