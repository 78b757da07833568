/**
 * Interop with real peers (`openssl s_server`, `openssl s_client`,
 * `gnutls-cli`) from inside Bun, against both of BunTls's paths: the
 * sans-IO engine (`BunTls.layer`, the default) and Bun's native TLS
 * sockets (`BunTls.layer` with `allowTruncation`). The same suite as
 * Node's (test/interop/opensslSuite.ts).
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import { describe, it } from "vitest"
import { opensslInterop } from "./interop/opensslSuite.js"

const onBun = "Bun" in globalThis

if (onBun) {
  opensslInterop("BunTls.layer (node:tls engine over Bun sockets)", BunTls.layer)
  opensslInterop("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, {
    common: { allowTruncation: true }
  })
} else {
  describe("interop with the openssl CLI, inside Bun", () => {
    it.skip("runs only inside Bun (npm test's Bun run)", () => {})
  })
}
