/**
 * `@effect/platform`'s `Socket` and `SocketServer` over TLS on Bun:
 * `TlsSocket` and `TlsSocketServer` of `@effect-tls/core` with
 * `BunTls.layer` provided. What `@effect/rpc`'s socket protocols take:
 *
 * ```ts
 * RpcClient.layerProtocolSocket().pipe(Layer.provide(BunTlsSocket.layer({ host, port, ca, cert, key })))
 * RpcServer.layerProtocolSocketServer.pipe(Layer.provide(BunTlsSocket.layerServer({ port, cert, key, requestCert: true, ca })))
 * ```
 *
 * Requires `@effect/platform` (an optional peer dependency).
 *
 * @since 0.3.0
 */
import type * as Socket from "@effect/platform/Socket"
import type * as SocketServer from "@effect/platform/SocketServer"
import type { ClientOptions, ServerOptions } from "@effect-tls/core/TlsOptions"
import * as TlsSocket from "@effect-tls/core/TlsSocket"
import * as TlsSocketServer from "@effect-tls/core/TlsSocketServer"
import * as Layer from "effect/Layer"
import * as BunTls from "./BunTls.js"

/**
 * Provides `Socket.Socket`: every `run` dials `options` (see `TlsSocket`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layer = (
  options: ClientOptions,
  socketOptions?: TlsSocket.SocketOptions
): Layer.Layer<Socket.Socket> => TlsSocket.layer(options, socketOptions).pipe(Layer.provide(BunTls.layer))

/**
 * Provides `SocketServer.SocketServer` on a TLS server bound with `options`
 * (see `TlsSocketServer`).
 *
 * @since 0.3.0
 * @category layers
 */
export const layerServer = (
  options: ServerOptions,
  socketOptions?: TlsSocket.SocketOptions
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError> =>
  TlsSocketServer.layer(options, socketOptions).pipe(Layer.provide(BunTls.layer))
