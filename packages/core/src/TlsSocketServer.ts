/**
 * TLS as an `@effect/platform` `SocketServer`: what
 * `RpcServer.layerProtocolSocketServer` serves on. A layer swap puts an
 * RPC server behind TLS, mutual TLS included (`requestCert` and `ca` in
 * the server options).
 *
 * The server is bound by `Tls.listen(options)` when the layer (or `make`'s
 * scope) starts, so `address` has the real port when asked for port 0.
 * `run(handler)` serves with `TlsServer.serve`: its limits, idle timeout
 * and logging apply; each connection, after its handshake, is a `Socket`
 * handed to `handler` in its own fiber (a handshake that fails never
 * reaches it). That socket's `run` reads the connection once (see
 * `TlsSocket` for how TLS outcomes surface); the connection is closed
 * (close_notify) when `handler` ends. `TlsSocket.connection(socket)` gives
 * the connection (the client's certificate, what was negotiated).
 *
 * Requires `@effect/platform` (an optional peer dependency of
 * `@effect-tls/core`).
 *
 * @since 0.3.0
 */
import type * as SocketServer from "@effect/platform/SocketServer"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/tlsSocketServer.js"
import type * as Tls from "./Tls.js"
import type { ServerOptions } from "./TlsOptions.js"
import type { SocketOptions } from "./TlsSocket.js"

/**
 * Bind a TLS server (in the current scope) and give it as a `SocketServer`.
 * Fails with `SocketServerError` reason `Open` (the `TlsError` as `cause`)
 * when `listen` does.
 *
 * @since 0.3.0
 * @category constructors
 */
export const make: (
  options: ServerOptions,
  socketOptions?: SocketOptions
) => Effect.Effect<SocketServer.SocketServer["Type"], SocketServer.SocketServerError, Tls.Tls | Scope.Scope> =
  internal.make

/**
 * Provides `SocketServer.SocketServer` on a TLS server bound with `options`
 * (for `RpcServer.layerProtocolSocketServer`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer: (
  options: ServerOptions,
  socketOptions?: SocketOptions
) => Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, Tls.Tls> = internal.layer
