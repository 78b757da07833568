/**
 * Tracing and metrics on Bun: BunTls.layer, on the default path and with
 * allowTruncation (Bun's native TLS sockets). Runs only inside Bun.
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import { describe, it } from "vitest"
import { telemetrySuite } from "./telemetry/suite.js"

if ("Bun" in globalThis) {
  telemetrySuite("BunTls.layer (node:tls engine over Bun sockets)", BunTls.layer, {}, true)
  telemetrySuite("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, { allowTruncation: true }, true)
} else {
  describe("BunTls telemetry", () => {
    it.skip("runs only inside Bun (npm test runs it with bun --bun vitest)", () => {})
  })
}
