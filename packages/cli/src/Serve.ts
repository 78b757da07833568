/**
 * `effect-tls serve`: a TLS terminator in front of plain TCP backends.
 *
 * Certificates are chosen per server name (SNI) by an `SniResolver` that
 * reads the current certificate set from a `Ref`: `reload` reads the files
 * again and swaps the set, so new handshakes get the new certificates while
 * open connections go on untouched. After the handshake, the connection is
 * routed by its server name and ALPN protocol to a backend, optionally
 * preceded by a PROXY protocol v2 header, and bytes are copied both ways
 * (a client's close_notify half-closes the backend, the backend's end sends
 * close_notify). Each connection ends with one JSON log line.
 *
 * @since 0.2.0
 */
import type { Tls } from "@effect-tls/core/Tls"
import type { Address } from "@effect-tls/core/Tls"
import type { TlsError, TlsTransportError } from "@effect-tls/core/TlsError"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/serve.js"
import type { TlsPlatform } from "./TlsPlatform.js"

/**
 * A certificate and key, as files (read at start and on every reload).
 *
 * @since 0.2.0
 * @category models
 */
export interface CertificateFiles {
  /** PEM: the certificate, followed by its intermediates. */
  readonly certFile: string
  readonly keyFile: string
}

/**
 * Where a connection goes: `name` is a server name, a one-label wildcard
 * (`*.example.com`) or `*` for any; `alpn`, when given, must be the
 * negotiated protocol too.
 *
 * @since 0.2.0
 * @category models
 */
export interface Route {
  readonly name: string
  readonly alpn?: string | undefined
  readonly backend: Address
}

/**
 * @since 0.2.0
 * @category models
 */
export interface ServeConfig {
  readonly listen: Address
  /** Certificates by server name (exact or one-label wildcard). */
  readonly sni: ReadonlyArray<readonly [name: string, files: CertificateFiles]>
  /**
   * A directory of `NAME.pem` (certificate and intermediates) and `NAME.key`
   * pairs, listed again on reload; `_wildcard.example.com.pem` serves
   * `*.example.com`.
   */
  readonly sniDirectory?: string | undefined
  /**
   * The certificate for clients that send no name or an unknown one.
   * Default: the first `sni` entry, else the first name of the directory.
   */
  readonly defaultCertificate?: CertificateFiles | undefined
  readonly routes: ReadonlyArray<Route>
  /** Where connections that match no route go. Without it they are closed. */
  readonly defaultBackend?: Address | undefined
  /** ALPN protocols to offer, in preference order. Default: those named by routes. */
  readonly alpnProtocols?: ReadonlyArray<string> | undefined
  /** Send a PROXY protocol v2 header to the backend first. */
  readonly proxyProtocol?: boolean | undefined
  /** A PEM file of CAs: require a client certificate signed by one of them. */
  readonly clientCaFile?: string | undefined
  readonly maxConnections?: number | undefined
  readonly maxHandshakes?: number | undefined
  readonly idleTimeoutMillis?: number | undefined
  readonly handshakeTimeoutMillis?: number | undefined
  /** Bound on connecting to a backend. Default 10 seconds. */
  readonly connectTimeoutMillis?: number | undefined
  readonly closeGraceMillis?: number | undefined
  /** How long a drain waits for open connections before closing them. Default 30 seconds. */
  readonly drainTimeoutMillis?: number | undefined
  /** Where the JSON log lines go. Default: one line each on stdout (`Console.log`). */
  readonly log?: ((entry: Record<string, unknown>) => Effect.Effect<void>) | undefined
}

/**
 * What a reload did.
 *
 * @since 0.2.0
 * @category models
 */
export type ReloadResult =
  | { readonly ok: true; readonly names: ReadonlyArray<string> }
  | { readonly ok: false; readonly error: string }

/**
 * A running terminator.
 *
 * @since 0.2.0
 * @category models
 */
export interface Terminator {
  readonly address: Address
  /** Read every certificate again; on any failure keep the current set. */
  readonly reload: Effect.Effect<ReloadResult>
  /**
   * Stop accepting and close the listening socket (new clients are
   * refused), let open connections finish (closing those still open after
   * the drain timeout), and stop. Completes when every connection has
   * ended.
   */
  readonly drain: Effect.Effect<void>
  /** Connections open now (handshakes done). */
  readonly active: Effect.Effect<number>
  /**
   * Completes when the terminator has stopped after a drain; fails if it
   * stopped on its own (the listening socket failed).
   */
  readonly done: Effect.Effect<void, TlsTransportError>
}

/**
 * Why the terminator could not start: unreadable files, or options the TLS
 * library rejects.
 *
 * @since 0.2.0
 * @category errors
 */
export type ServeError = internal.ServeConfigError | TlsError

/**
 * @since 0.2.0
 * @category errors
 */
export const ServeConfigError: typeof internal.ServeConfigError = internal.ServeConfigError

/**
 * Start a terminator. It runs until `drain`, or until the scope closes
 * (which closes every connection at once).
 *
 * @since 0.2.0
 * @category constructors
 */
export const start: (config: ServeConfig) => Effect.Effect<Terminator, ServeError, Tls | TlsPlatform | Scope.Scope> =
  internal.start

/**
 * Parse a `--route` value: `name[/alpn]=host:port`.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseRoute: (text: string) => Effect.Effect<Route, internal.ServeConfigError> = internal.parseRoute

/**
 * Parse a `--sni` value: `name=cert.pem,key.pem`.
 *
 * @since 0.2.0
 * @category parsing
 */
export const parseSni: (
  text: string
) => Effect.Effect<readonly [string, CertificateFiles], internal.ServeConfigError> = internal.parseSni
