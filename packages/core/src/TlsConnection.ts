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
}

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
