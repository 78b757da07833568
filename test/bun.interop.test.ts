/**
 * Interop with real peers (`openssl s_server`, `openssl s_client`,
 * `gnutls-cli`) from inside Bun, against both of BunTls's paths: Bun's
 * native TLS sockets (`BunTls.layer`) and the sans-IO engine
 * (`BunTls.layerSansIo`). The same suite as Node's
 * (test/interop/opensslSuite.ts); the native path's documented difference
 * (truncation reads as a clean end) is pinned there.
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import { describe, it } from "vitest"
import { opensslInterop } from "./interop/opensslSuite.js"

const onBun = "Bun" in globalThis

if (onBun) {
  opensslInterop("BunTls.layer (native)", BunTls.layer, { truncation: "cleanEnd" })
  opensslInterop("BunTls.layerSansIo", BunTls.layerSansIo)
} else {
  describe("interop with the openssl CLI, inside Bun", () => {
    it.skip("runs only inside Bun (npm test's Bun run)", () => {})
  })
}
