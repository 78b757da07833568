/**
 * Options of TLS clients and servers, and their decoding.
 *
 * Options are decoded up front: a bad option fails with `TlsConfigError`
 * before any socket is opened. Runtime layers then build their native
 * context from the decoded form (and report what the TLS library rejects,
 * such as a key that does not match its certificate, as `TlsConfigError`
 * too, still before any I/O).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type * as Stream from "effect/Stream"
import type * as SubscriptionRef from "effect/SubscriptionRef"
import * as internal from "./internal/tlsOptions.js"
import type { RetryPolicy } from "./RetryPolicy.js"
import type { TicketKeysService } from "./TicketKeys.js"
import type { TlsConfigError } from "./TlsError.js"

/**
 * PEM text, as a string or as its bytes.
 *
 * @since 0.1.0
 * @category models
 */
export type Pem = string | Uint8Array

/**
 * A private key in PEM. Wrap it in `Redacted` to keep it out of logs.
 *
 * @since 0.1.0
 * @category models
 */
export type PrivateKey = Pem | Redacted.Redacted<Pem>

/**
 * @since 0.1.0
 * @category models
 */
export type TlsVersion = "TLSv1.2" | "TLSv1.3"

/**
 * What both roles share.
 *
 * @since 0.1.0
 * @category models
 */
export interface CommonOptions {
  /** Trusted roots (PEM, one or many). Default: the runtime's root store (clients). */
  readonly ca?: Pem | ReadonlyArray<Pem> | undefined
  /**
   * Certificate revocation lists (PEM `X509 CRL` blocks). Given, the peer's
   * chain is checked against them at every level, so each CA of the chain
   * needs its CRL here; a revoked certificate is `TlsCertificateError`
   * `CERT_REVOKED`, a CA without a CRL `UNABLE_TO_GET_CRL`.
   *
   * @since 0.3.0
   */
  readonly crl?: Pem | ReadonlyArray<Pem> | undefined
  /** Our certificate, followed by its intermediates (PEM). */
  readonly cert?: Pem | ReadonlyArray<Pem> | undefined
  /** The private key of `cert`. */
  readonly key?: PrivateKey | undefined
  /** Default `"TLSv1.2"`; nothing lower is accepted. */
  readonly minVersion?: TlsVersion | undefined
  /** Default `"TLSv1.3"`. */
  readonly maxVersion?: TlsVersion | undefined
  /** ALPN protocol names, in preference order. */
  readonly alpnProtocols?: ReadonlyArray<string> | undefined
  /** An OpenSSL cipher list (TLS 1.2 suites and TLS 1.3 suite names). */
  readonly ciphers?: string | undefined
  /** Bound on the handshake. Default 30 seconds. */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** How the driver retries Want errors. Default `RetryPolicy.defaultPolicy`. */
  readonly retryPolicy?: RetryPolicy | undefined
  /**
   * How long closing a connection waits for the transport to take what was
   * written (close_notify included) before the close turns abortive (with a
   * warning naming the bytes left). Default 5 seconds.
   */
  readonly closeGrace?: Duration.DurationInput | undefined
  /**
   * Give up truncation detection: a peer that ends the TCP stream without
   * close_notify is read as a clean end (`read` gives `None`) instead of
   * failing with `TlsUnexpectedEof`. Default `false`.
   *
   * In exchange the connection may run on the runtime's own TLS socket
   * (its native path: TLS on the TCP handle on Node, Bun's TLS sockets),
   * which cannot tell close_notify from a bare FIN. Use it only where the
   * protocol above TLS frames its own messages (HTTP with a length, a
   * length-prefixed RPC), as trio's `https_compatible` and browsers do:
   * an attacker who can cut the TCP stream can otherwise make a cut-off
   * message look complete. The handshake still fails on an early end.
   *
   * @since 0.3.0
   */
  readonly allowTruncation?: boolean | undefined
  /**
   * Where this connection's TLS secrets go, as NSS key log lines (the
   * `SSLKEYLOGFILE` format Wireshark reads), for debugging captured
   * traffic. Off unless given; the lines are never logged. Anyone who
   * holds them can decrypt the connection: see `Keylog`.
   *
   * @since 0.3.0
   */
  readonly keylog?: Keylog | undefined
}

/**
 * Receives the NSS key log lines of one connection, one call per line and
 * in order (`CLIENT_RANDOM <random> <secret>` for TLS 1.2,
 * `CLIENT_HANDSHAKE_TRAFFIC_SECRET ...`, `SERVER_TRAFFIC_SECRET_0 ...`,
 * `EXPORTER_SECRET ...` and the rest for TLS 1.3), without the line
 * break. The handshake's lines are with the sink before `connect`,
 * `accept` or `upgrade` hands out the connection (also when the handshake
 * fails: then before its scope has finished closing); lines that come
 * after the connection's scope closed are dropped. A connection waits for
 * its sink, so a slow one slows only its own handshake. A sink that dies
 * is reported (without the line) and the connection goes on.
 * `NodeKeylog.file(path)` (`BunKeylog.file` on Bun) appends to a file.
 *
 * @since 0.3.0
 * @category models
 */
export type Keylog = (line: string) => Effect.Effect<void>

/**
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions extends CommonOptions {
  readonly host: string
  readonly port: number
  /** The name sent as SNI and verified against the certificate. Default: `host`. */
  readonly servername?: string | undefined
  /**
   * Verify the server's chain and host name. Default `true`; turning it off
   * must be written out as `verify: false`.
   */
  readonly verify?: boolean | undefined
  /** Bound on the TCP connect. Default 30 seconds. */
  readonly connectTimeout?: Duration.DurationInput | undefined
}

/**
 * Client options for `Tls.upgrade`: no address, the transport is already open.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpgradeClientOptions extends CommonOptions {
  readonly role: "client"
  /** The name sent as SNI and verified. Required unless `verify: false`. */
  readonly servername?: string | undefined
  readonly verify?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ServerOptions extends CommonOptions {
  /** Address to bind. Default `"0.0.0.0"`. */
  readonly host?: string | undefined
  /** Port to bind; `0` (the default) picks a free port, see `TlsServer.address`. */
  readonly port?: number | undefined
  /** Require a client certificate signed by `ca`, and reject the handshake without one. */
  readonly requestCert?: boolean | undefined
  /** The listen backlog. */
  readonly backlog?: number | undefined
  /**
   * Connections `serve` runs at once, counted from accept (one still in its
   * handshake holds a slot). At the limit the server stops accepting, so
   * the kernel's backlog queues new clients, until a connection ends.
   * Default 4096.
   */
  readonly maxConnections?: number | undefined
  /**
   * Connections `serve` lets handshake at once (within `maxConnections`):
   * handshakes cost CPU, and a client that never finishes one holds a slot
   * until `handshakeTimeout`. Default 256.
   */
  readonly maxHandshakes?: number | undefined
  /**
   * An established connection of `listen` or `serve` on which no read or
   * write completed for this long fails with `TlsTimeoutError` (phase
   * `"idle"`) and is closed abortively. `Duration.infinity` turns it off.
   * Default 5 minutes.
   */
  readonly idleTimeout?: Duration.DurationInput | undefined
  /**
   * Bind with `SO_REUSEPORT`, so that several servers (processes) can
   * listen on one port and the kernel spreads connections among them.
   * Where the runtime cannot (Node.js before 22.12, which would ignore it
   * silently), `listen` fails with `TlsConfigError`. Default `false`.
   *
   * @since 0.3.0
   */
  readonly reusePort?: boolean | undefined
  /**
   * The keys session tickets are encrypted with: 48 bytes (`Redacted`;
   * OpenSSL's layout: key name, HMAC secret, AES key; another length is
   * `TlsConfigError`), or a `TicketKeysService` whose current key encrypts
   * and whose previous keys still decrypt (see `TicketKeys`). Without it,
   * a `TicketKeys` service in the context is used, else the runtime's own
   * random keys. Bun cannot set ticket keys: there it fails with
   * `TlsConfigError`.
   *
   * @since 0.3.0
   */
  readonly ticketKeys?: Redacted.Redacted<Uint8Array> | TicketKeysService | undefined
  /**
   * Replace the server's certificate context while it runs, as
   * `TlsServer.reload` does, from a `SubscriptionRef` (its value at
   * `listen` applies before binding, and a bad one fails `listen`; after
   * that, the next handshake after a change uses the new value) or a
   * `Stream` (each context applies as it comes, for example from a file
   * watcher). A bad replacement is logged as a warning with its
   * `TlsConfigError` (never with key material) and the previous context
   * keeps serving. A Stream that fails is logged too, and the server
   * keeps the context it has. A server given this option is never bound
   * on a runtime's own TLS listener (Bun's cannot change its context):
   * with `allowTruncation` on Bun it runs the sans-IO path.
   *
   * @since 0.3.0
   */
  readonly reload?: SubscriptionRef.SubscriptionRef<ServerContext> | Stream.Stream<ServerContext, unknown> | undefined
}

/**
 * A certificate context a server can pick per connection (see
 * `SniResolver`): the same shape as the server options' certificate
 * fields. Fields left out are taken from the server's own options.
 *
 * @since 0.2.0
 * @category models
 */
export interface ServerContext {
  /** The certificate for this name, followed by its intermediates (PEM). */
  readonly cert: Pem | ReadonlyArray<Pem>
  /** The private key of `cert`. */
  readonly key: PrivateKey
  /** CA for client certificates (with `requestCert`). */
  readonly ca?: Pem | ReadonlyArray<Pem> | undefined
  readonly requestCert?: boolean | undefined
  readonly ciphers?: string | undefined
  readonly minVersion?: TlsVersion | undefined
  readonly maxVersion?: TlsVersion | undefined
  /** ALPN protocols this name speaks, in preference order (without an `AlpnSelector`). */
  readonly alpnProtocols?: ReadonlyArray<string> | undefined
}

/**
 * Server options for `Tls.upgrade`.
 *
 * @since 0.1.0
 * @category models
 */
export interface UpgradeServerOptions extends CommonOptions {
  readonly role: "server"
  readonly requestCert?: boolean | undefined
  /**
   * The keys session tickets are encrypted with: 48 bytes (`Redacted`;
   * OpenSSL's layout: key name, HMAC secret, AES key; another length is
   * `TlsConfigError`), or a `TicketKeysService` whose current key encrypts
   * and whose previous keys still decrypt (see `TicketKeys`). Without it,
   * a `TicketKeys` service in the context is used, else the runtime's own
   * random keys. Bun cannot set ticket keys: there it fails with
   * `TlsConfigError`.
   *
   * @since 0.3.0
   */
  readonly ticketKeys?: Redacted.Redacted<Uint8Array> | TicketKeysService | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export type UpgradeOptions = UpgradeClientOptions | UpgradeServerOptions

/**
 * Options after decoding: defaults filled in, PEM normalized to strings.
 *
 * @since 0.1.0
 * @category decoded
 */
export interface ResolvedCommon {
  readonly ca: ReadonlyArray<string> | undefined
  readonly crl: ReadonlyArray<string> | undefined
  readonly certChain: ReadonlyArray<string> | undefined
  readonly key: Redacted.Redacted<string> | undefined
  readonly minVersion: TlsVersion
  readonly maxVersion: TlsVersion
  readonly alpnProtocols: ReadonlyArray<string>
  readonly ciphers: string | undefined
  readonly handshakeTimeout: Duration.Duration
  readonly retryPolicy: RetryPolicy
  readonly closeGrace: Duration.Duration
  /** A FIN without close_notify reads as a clean end (and the native path may be taken). */
  readonly allowTruncation: boolean
  /**
   * Where the connection's NSS key log lines go; undefined (the default)
   * asks the engine for none.
   *
   * @since 0.3.0
   */
  readonly keylog: Keylog | undefined
}

/**
 * @since 0.1.0
 * @category decoded
 */
export interface ResolvedClient extends ResolvedCommon {
  readonly role: "client"
  /** The name to send as SNI: undefined when the target is an IP address. */
  readonly sni: string | undefined
  /** The name (or IP) the certificate is checked against. */
  readonly verifyHost: string
  readonly verify: boolean
}

/**
 * @since 0.1.0
 * @category decoded
 */
export interface ResolvedClientConnect extends ResolvedClient {
  readonly host: string
  readonly port: number
  readonly connectTimeout: Duration.Duration
}

/**
 * @since 0.1.0
 * @category decoded
 */
export interface ResolvedServer extends ResolvedCommon {
  readonly role: "server"
  readonly certChain: ReadonlyArray<string>
  readonly key: Redacted.Redacted<string>
  readonly requestCert: boolean
  /**
   * The `ticketKeys` option, as a service (fixed bytes become one).
   *
   * @since 0.3.0
   */
  readonly ticketKeys?: TicketKeysService | undefined
  /**
   * The one ticket key the native context is built with (48 bytes),
   * chosen by the server for a handshake; undefined: the runtime's own.
   *
   * @since 0.3.0
   */
  readonly ticketKey?: Redacted.Redacted<Uint8Array> | undefined
}

/**
 * @since 0.1.0
 * @category decoded
 */
export interface ResolvedServerListen extends ResolvedServer {
  readonly host: string
  readonly port: number
  readonly backlog: number | undefined
  readonly maxConnections: number
  readonly maxHandshakes: number
  readonly idleTimeout: Duration.Duration
  /** @since 0.3.0 */
  readonly reusePort: boolean
}

/**
 * @since 0.1.0
 * @category decoding
 */
export const decodeClient: (options: ClientOptions) => Effect.Effect<ResolvedClientConnect, TlsConfigError> =
  internal.decodeClient

/**
 * @since 0.1.0
 * @category decoding
 */
export const decodeServer: (options: ServerOptions) => Effect.Effect<ResolvedServerListen, TlsConfigError> =
  internal.decodeServer

/**
 * Check a `ServerContext` on its own: PEM shapes, key/cert pairing,
 * versions, ALPN names. `label` prefixes the option named in errors
 * (`sni["a.example.com"]`).
 *
 * @since 0.2.0
 * @category decoding
 */
export const validateContext: (context: ServerContext, label: string) => Effect.Effect<void, TlsConfigError> =
  internal.validateContext

/**
 * The server options for one connection that uses `context`: its fields,
 * and the server's own for those it leaves out.
 *
 * @since 0.2.0
 * @category decoding
 */
export const decodeContext: (
  server: ResolvedServer,
  context: ServerContext,
  label: string
) => Effect.Effect<ResolvedServer, TlsConfigError> = internal.decodeContext

/**
 * @since 0.1.0
 * @category decoding
 */
export const decodeUpgrade: (
  options: UpgradeOptions
) => Effect.Effect<ResolvedClient | ResolvedServer, TlsConfigError> = internal.decodeUpgrade
