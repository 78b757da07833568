/**
 * A TLS connection after its handshake: read and write Effects, a `stream`
 * and a `sink`, what was negotiated, and `shutdown`.
 *
 * A connection lives in a `Scope`. Closing the scope sends close_notify (if
 * the connection is still healthy and it was not sent yet) and releases the
 * transport.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as Sink from "effect/Sink"
import type * as Stream from "effect/Stream"
import * as secrets from "./internal/secrets.js"
import * as internal from "./internal/tlsConnection.js"
import type { ResolvedClient, ResolvedServer } from "./TlsOptions.js"
import type { ConnectionInfo, TlsEngine } from "./TlsEngine.js"
import type { TlsError, TlsWant } from "./TlsError.js"
import type { Transport } from "./Transport.js"

/**
 * What a connection's operations can fail with: a `TlsError`, or the last
 * Want error when the RetryPolicy gave up.
 *
 * @since 0.1.0
 * @category models
 */
export type TlsConnectionError = TlsError | TlsWant

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsConnection {
  /** What the handshake negotiated. */
  readonly info: ConnectionInfo
  /**
   * The next decrypted bytes. `None` once the peer has sent close_notify; a
   * transport that ends without it fails with `TlsUnexpectedEof` (or gives
   * `None` too, where the options say `allowTruncation`).
   */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError>
  /**
   * Write all of `data` (strings as UTF-8). Completes once the bytes are
   * accepted into the connection's bounded buffers; suspends while they are
   * full.
   */
  readonly write: (data: Uint8Array | string) => Effect.Effect<void, TlsConnectionError>
  /** Everything the peer sends, until its close_notify. */
  readonly stream: Stream.Stream<Uint8Array, TlsConnectionError>
  /** Writes every chunk it is given; does not close the connection. */
  readonly sink: Sink.Sink<void, Uint8Array, never, TlsConnectionError>
  /**
   * Send close_notify and end the transport's write side. Reading may go on
   * until the peer's own close_notify. Idempotent.
   */
  readonly shutdown: Effect.Effect<void, TlsConnectionError>
  /**
   * Close at once (abortive close): no close_notify, no wait. Bytes that
   * `write` accepted and the transport has not taken yet are dropped, so
   * the peer may see a cut-off message followed by the end of the
   * connection; this is the one way to lose written bytes. Later calls
   * fail with `TlsClosedError`. Closing the scope normally (with
   * close_notify, bounded by `closeGrace`) is what to use otherwise.
   *
   * @since 0.3.0
   */
  readonly abort: Effect.Effect<void>
  /** Where the peer is, when the transport knows. */
  readonly remoteAddress: string | undefined
  /**
   * Keying material exported from the connection's secrets (RFC 5705,
   * RFC 8446 section 7.5): `length` bytes, the same on both ends of one
   * connection for the same `label` and `context`, and unrelated to any
   * other connection. `context` left out is no context at all, which TLS
   * 1.2 tells apart from an empty one (TLS 1.3 does not).
   *
   * Fails with `TlsConfigError` (option `exportKeyingMaterial.length`,
   * `.label` or `.context`) for a length outside 1 to 8160 (what TLS 1.3
   * can give with every cipher suite), a label that is empty, longer than
   * 249 characters, not printable ASCII, or reserved by TLS itself
   * (`"master secret"`, `"key expansion"`, `"client finished"`,
   * `"server finished"`, `"extended master secret"`), or a context over
   * 65535 bytes; with `TlsClosedError` once the connection is closed, and
   * with the connection's error once it is broken.
   *
   * @since 0.3.0
   */
  readonly exportKeyingMaterial: (
    length: number,
    label: string,
    context?: Uint8Array
  ) => Effect.Effect<Uint8Array, TlsConnectionError>
}

/**
 * The largest `length` that `exportKeyingMaterial` takes: 255 times the
 * output of SHA-256, the most HKDF-Expand gives for every TLS 1.3 suite.
 *
 * @since 0.3.0
 * @category constants
 */
export const maxExportLength: number = secrets.MAX_EXPORT_LENGTH

/**
 * The `tls-exporter` channel binding of RFC 9266: 32 bytes exported with
 * the label `"EXPORTER-Channel-Binding"` and an empty context, the same on
 * both ends of one connection (what SCRAM's `-PLUS` mechanisms send as
 * `cbind-data` with `p=tls-exporter`). Defined here for TLS 1.3 only: on
 * a TLS 1.2 connection it fails with `TlsProtocolError` code
 * `ERR_TLS_CHANNEL_BINDING_UNAVAILABLE` (RFC 9266 allows TLS 1.2 only
 * with the extended master secret, which the runtimes do not report).
 *
 * @since 0.3.0
 * @category channel binding
 */
export const tlsExporter: (connection: TlsConnection) => Effect.Effect<Uint8Array, TlsConnectionError> =
  secrets.tlsExporter

/**
 * Run the handshake of `engine` over `transport` and return the connection.
 * The connection owns both from here on: closing the scope closes them.
 * Fails with `TlsTimeoutError` when `options.handshakeTimeout` runs out.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  engine: TlsEngine,
  transport: Transport,
  options: ResolvedClient | ResolvedServer
) => Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> = internal.make
