/**
 * The sans-IO engine over node:tls: a `tls.TLSSocket` on an in-memory
 * Duplex that plays both BIOs.
 *
 * @since 0.1.0
 */
import type { EngineSession, PeerCertificate, TlsEngineFactory } from "@effect-tls/core/TlsEngine"
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import type { ResolvedClient, ResolvedServer } from "@effect-tls/core/TlsOptions"
import type * as Effect from "effect/Effect"
import type { X509Certificate } from "node:crypto"
import * as internal from "./internal/nodeTlsEngine.js"

/**
 * Engines for a client. Fails with `TlsConfigError` when node:tls rejects
 * the options (a bad cipher list, a CA it cannot parse, ...).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClientFactory: (options: ResolvedClient) => Effect.Effect<TlsEngineFactory, TlsConfigError> =
  internal.clientEngines

/**
 * Engines for a server. Fails with `TlsConfigError` when node:tls rejects
 * the options (a key that does not match its certificate, ...).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeServerFactory: (options: ResolvedServer) => Effect.Effect<TlsEngineFactory, TlsConfigError> =
  internal.serverEngines

/**
 * A certificate as node:crypto decoded it, in core's `PeerCertificate`
 * shape (subject and issuer fields, SAN, validity, SHA-256 fingerprint,
 * DER). Shared with other runtimes that implement node:crypto (Bun).
 *
 * @since 0.2.0
 * @category conversions
 */
export const toPeerCertificate: (certificate: X509Certificate) => PeerCertificate = internal.toPeerCertificate

/**
 * A session as OpenSSL or BoringSSL encoded it (`SSL_SESSION` in DER, what
 * node:tls's 'session' event and Bun's `getSession()` give), as core's
 * `EngineSession`: the lifetime the server gave, and whether it is a TLS
 * 1.3 ticket (single-use). Given the server's chain as verified (DER, leaf
 * first), the data keeps it too, for the connections that resume it. `undefined` for a TLS 1.3 session that holds no
 * ticket (it cannot resume). Shared with Bun's native engine.
 *
 * @since 0.3.0
 * @category conversions
 */
export const toEngineSession: (
  data: Uint8Array,
  peerChain?: ReadonlyArray<Uint8Array> | undefined
) => EngineSession | undefined = internal.engineSession

/**
 * The library's session and the server's chain (DER, leaf first) in an
 * `EngineSession`'s `data` made by `toEngineSession` with a chain; data
 * made without one is the session alone.
 *
 * @since 0.3.0
 * @category conversions
 */
export const fromEngineSession: (data: Uint8Array) => {
  readonly session: Uint8Array
  readonly chain: ReadonlyArray<Uint8Array>
} = internal.openSession

/**
 * A certificate's chain as node:crypto links it (`issuerCertificate`), leaf
 * first, in core's `PeerCertificate` shape: up to a self-signed root, or to
 * the last certificate whose issuer is not known.
 *
 * @since 0.2.0
 * @category conversions
 */
export const toPeerCertificateChain: (leaf: X509Certificate) => ReadonlyArray<PeerCertificate> =
  internal.toPeerCertificateChain
