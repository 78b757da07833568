/**
 * The hostile-peer suite against BunTls's layers, inside Bun (npm test's
 * Bun run); skipped under Node. BoringSSL differs from OpenSSL in a few
 * outcomes, each pinned here (and listed in the README's runtime table).
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import * as BunTransport from "@effect-tls/bun/BunTransport"
import { describe, it } from "vitest"
import { type HostileOptions, hostileSuite } from "./hostile/suite.js"

const onBun = "Bun" in globalThis
const tcp = { connect: BunTransport.connect, listen: (host: string, port: number) => BunTransport.listen(host, port) }

/** BoringSSL, on every Bun path. */
const boringSsl: HostileOptions = {
  tcp,
  // A plaintext handshake record after the handshake is too short for the
  // cipher: BoringSSL sends bad_record_mac (OpenSSL: internal_error in TLS
  // 1.2, unexpected_message in 1.3).
  outcome: (_version, attack) => (attack === "inject" ? "TlsAlertError bad_record_mac sent" : undefined),
  // BoringSSL answers a first record that is not TLS with protocol_version.
  alertForNotTls: true,
  // BoringSSL never renegotiates as a server.
  renegotiation: "TlsProtocolError ERR_SSL_NO_RENEGOTIATION",
  // BoringSSL allows 32 KeyUpdates in a row without application data.
  keyUpdatesInARow: "TlsProtocolError ERR_SSL_TOO_MANY_KEY_UPDATES"
}

if (onBun) {
  hostileSuite("BunTls.layer (node:tls engine over Bun sockets)", BunTls.layer, boringSsl)
  hostileSuite("BunTls.layer with allowTruncation (Bun's native TLS sockets)", BunTls.layer, {
    ...boringSsl,
    common: { allowTruncation: true },
    outcome: (version, attack, direction, path) =>
      // A connection cut short reads as a clean end (on the native sockets,
      // and by the option on the sans-IO path that upgrade takes).
      attack === "cut" ? "clean end" : boringSsl.outcome!(version, attack, direction, path),
    // Bun's native client neither renegotiates nor reports a HelloRequest.
    serverRenegotiation: "unanswered",
    // Bun.listen accepts and handshakes every client itself; serve's limits
    // bound the connections it runs (the others wait, handshake done).
    listenerAcceptsAll: true,
    // An abortive close terminates Bun's socket: the peer sees a reset.
    abortSeenAs: "TlsTransportError Reset",
    // A fatal alert followed by the end (GnuTLS) reads as a clean end:
    // Bun reports them alike (oven-sh/bun#42324, #41272).
    truncationLooksClean: true
  })
} else {
  describe("hostile peers, inside Bun", () => {
    it.skip("runs only inside Bun (npm test's Bun run)", () => {})
  })
}
