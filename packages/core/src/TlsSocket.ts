/**
 * TLS as an `@effect/platform` `Socket`: what `@effect/rpc`
 * (`RpcClient.layerProtocolSocket`), `Socket.toChannel` and the rest of
 * Effect's ecosystem speak over. A layer swap puts them on TLS.
 *
 * A `Socket` is a dialer: every `run` opens a connection with
 * `Tls.connect(options)` (handshake included), hands each chunk of
 * plaintext to its handler, and ends with the connection, which the run's
 * scope then closes (close_notify). A consumer that runs it again, under
 * its retry schedule, reconnects. The writer may be taken before `run`:
 * its writes wait until a run has a connection (and, between runs, for the
 * next one).
 *
 * How each TLS outcome reaches a `Socket` consumer:
 *
 * - the peer's close_notify: `run` succeeds, once the Effects the handler
 *   returned for the chunks before it are done;
 * - a connect or handshake failure: `SocketGenericError` reason `Open`
 *   (`OpenTimeout` for a `TlsTimeoutError` of phase `connect` or
 *   `handshake`), with the `TlsError` as its `cause`;
 * - any failure while reading, truncation (`TlsUnexpectedEof`) and alerts
 *   included: `SocketGenericError` reason `Read`, with the `TlsError` as
 *   its `cause`. A TLS failure never looks like a clean close;
 * - a failed write: `SocketGenericError` reason `Write`.
 *
 * Writing a `CloseEvent` ends the run: code 1000 closes the connection
 * normally (close_notify after everything written); any other code cuts it
 * off without close_notify, so the peer sees an error, and `run` fails with
 * `SocketCloseError` unless `closeCodeIsError` says the code is clean
 * (`Socket.defaultCloseCodeIsError` by default). Releasing the writer's
 * scope sends close_notify and half-closes; reading goes on until the
 * peer's close_notify.
 *
 * Requires `@effect/platform` (an optional peer dependency of
 * `@effect-tls/core`).
 *
 * @since 0.3.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as Channel from "effect/Channel"
import type * as Chunk from "effect/Chunk"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/tlsSocket.js"
import type * as Tls from "./Tls.js"
import type { TlsConnection, TlsConnectionError } from "./TlsConnection.js"
import type { TlsError } from "./TlsError.js"
import type { ClientOptions } from "./TlsOptions.js"

/**
 * Options of the socket itself (the connection's are `ClientOptions`).
 *
 * @since 0.3.0
 * @category models
 */
export interface SocketOptions {
  /**
   * Which codes of a `CloseEvent` written to the socket make `run` fail
   * with `SocketCloseError` (default `Socket.defaultCloseCodeIsError`:
   * all but 1000 and 1006).
   */
  readonly closeCodeIsError?: ((code: number) => boolean) | undefined
}

/**
 * The TLS connection under a socket made here: the peer's certificate,
 * what was negotiated. For a socket of `TlsSocketServer`, the connection
 * it was accepted with; for a dialing socket, the connection of the `run`
 * in progress (`None` between runs). `None` for any other socket.
 *
 * @since 0.3.0
 * @category accessors
 */
export const connection: (socket: Socket.Socket) => Option.Option<TlsConnection> = internal.connection

/**
 * The `TlsError` behind an error from a `Socket` consumer, found by
 * following `cause` (and squashing any `Cause` on the way): for
 * `@effect/rpc`, `RpcClientError` (reason `Protocol`) -> `SocketError` ->
 * `TlsError`. `None` when no TLS failure is behind it (a clean close, a
 * decoding error).
 *
 * @since 0.3.0
 * @category accessors
 */
export const findTlsError: (error: unknown) => Option.Option<TlsError> = internal.findTlsError

/**
 * A `Socket` that dials `options` with `Tls.connect` on every `run`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: (options: ClientOptions, socketOptions?: SocketOptions) => Effect.Effect<Socket.Socket, never, Tls.Tls> =
  internal.make

/**
 * A `Socket` over connections that `open` makes, one per `run`, in the
 * run's scope: `Tls.upgrade` over a transport of your own, a connect with
 * options computed per attempt. The context `open` needs besides `Scope`
 * is taken when the socket is made.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromConnection: <R>(
  open: Effect.Effect<TlsConnection, TlsConnectionError, R>,
  socketOptions?: SocketOptions
) => Effect.Effect<Socket.Socket, never, Exclude<R, Scope.Scope>> = internal.fromConnection

/**
 * Provides `Socket.Socket` dialing `options` (for `RpcClient.layerProtocolSocket`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer: (options: ClientOptions, socketOptions?: SocketOptions) => Layer.Layer<Socket.Socket, never, Tls.Tls> =
  internal.layer

/**
 * `Socket.toChannel` over a socket that dials `options`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeChannel: <IE = never>(
  options: ClientOptions,
  socketOptions?: SocketOptions
) => Channel.Channel<
  Chunk.Chunk<Uint8Array>,
  Chunk.Chunk<Uint8Array | string | Socket.CloseEvent>,
  Socket.SocketError | IE,
  IE,
  void,
  unknown,
  Tls.Tls
> = internal.makeChannel
