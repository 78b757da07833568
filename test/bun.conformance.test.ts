/**
 * The conformance suite against BunTls's paths. It runs only inside Bun
 * (scripts/test-matrix.mjs runs it with `bun --bun vitest`); under Node it
 * is skipped, because BunTls needs Bun's socket APIs.
 */
import * as BunTls from "@effect-tls/bun/BunTls"
import * as BunTransport from "@effect-tls/bun/BunTransport"
import { describe, it } from "vitest"
import { driverConformance } from "./conformance/driver.js"
import { sniAlpnConformance } from "./conformance/sniAlpn.js"
import { conformance } from "./conformance/suite.js"
import type { Differences } from "./conformance/support.js"

const onBun = "Bun" in globalThis

/** The sans-IO path on Bun (the default): node:tls as Bun implements it, over a Duplex. */
const sansIo: Differences = {
  // BoringSSL: TLS 1.3 suites cannot be configured.
  tls13CiphersFixed: true,
  // Bun's node:tls over a Duplex: a TLSSocket stops reading once it has
  // sent close_notify, and sends its own as soon as it receives one.
  noHalfClose: true,
  // node:tls on Bun reports no protocol version while failing the
  // handshake, so the engine names the TLS 1.2 alert.
  tls13MissingCertificateAlertSent: "handshake_failure",
  // BoringSSL answers a first record that is not TLS with protocol_version.
  alertForNotTls: true
}

/** `allowTruncation`: Bun's native TLS sockets where options allow. */
const native: Differences = {
  tls13CiphersFixed: true,
  // Bun's native sockets report close_notify and a bare FIN alike (`end`).
  truncationLooksClean: true,
  alertForNotTls: true,
  // Bun's native sockets expose the peer's leaf certificate, no issuer.
  chainIsLeafOnly: true
}

const allowTruncation = { allowTruncation: true }

if (onBun) {
  const strict = "BunTls.layer (node:tls engine over Bun sockets)"
  conformance(strict, BunTls.layer, { differences: sansIo, connectPlain: BunTransport.connect })
  sniAlpnConformance(strict, BunTls.layer)
  driverConformance(strict, BunTls.layer, { differences: sansIo })

  const nativeName = "BunTls.layer with allowTruncation (Bun's native TLS sockets)"
  conformance(nativeName, BunTls.layer, { differences: native, connectPlain: BunTransport.connect, common: allowTruncation })
  sniAlpnConformance(nativeName, BunTls.layer, allowTruncation)
  driverConformance(nativeName, BunTls.layer, { differences: native, common: allowTruncation })

  // layerSansIo never takes the native path: allowTruncation there is the
  // same meaning on the engine.
  const sansIoName = "BunTls.layerSansIo with allowTruncation (node:tls engine over Bun sockets)"
  conformance(sansIoName, BunTls.layerSansIo, { differences: sansIo, connectPlain: BunTransport.connect, common: allowTruncation })
} else {
  describe("BunTls", () => {
    it.skip("runs only inside Bun (npm test runs it with bun --bun vitest)", () => {})
  })
}
