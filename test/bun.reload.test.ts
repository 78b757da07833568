/**
 * Hot reload and reusePort on Bun, on both paths. Bun's own TLS listener
 * (`Bun.listen` with `tls`, the native path of a server without resolvers)
 * keeps the TLS context it was bound with: its `reload` swaps handlers only
 * (oven-sh/bun#43815 is the same for `Bun.serve`). So a server given the
 * `reload` option listens through core's listener instead (the client side
 * stays native), and `TlsServer.reload` on one without it fails with
 * TlsConfigError, pinned below. `Bun.listen` binds with `reusePort`.
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import { describe, it } from "vitest"
import { reloadSuite } from "./reload/suite.js"

const onBun = "Bun" in globalThis

if (onBun) {
  reloadSuite("BunTls.layer (node:tls engine over Bun sockets)", BunTls.layer, {
    reusePort: "binds",
    processes: "bun",
    ticketKeys: false
  })
  reloadSuite("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, {
    common: { allowTruncation: true },
    nativeListenerKeepsContext: true,
    reusePort: "binds"
  })
} else {
  describe("BunTls", () => {
    it.skip("runs only inside Bun (npm test runs it with bun --bun vitest)", () => {})
  })
}
