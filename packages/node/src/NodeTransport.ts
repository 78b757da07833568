/**
 * Transports over `node:net`.
 *
 * @since 0.1.0
 */
import type { Listener, ListenOptions } from "@effect-tls/core/TlsRuntime"
import type { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Transport } from "@effect-tls/core/Transport"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as net from "node:net"
import * as internal from "./internal/nodeTransport.js"

/**
 * Adapt a connected `net.Socket` (for STARTTLS: upgrade a socket that has
 * already spoken plaintext). The transport takes over reading from it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromSocket: (socket: net.Socket) => Transport = internal.fromSocket

/**
 * Open a TCP connection. Closing the scope destroys the socket; the wait for
 * the connection can be interrupted.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect: (host: string, port: number) => Effect.Effect<Transport, TlsTransportError, Scope.Scope> =
  internal.connect

/**
 * Listen on `host:port` (port 0 picks a free port). `reusePort` (since
 * 0.3.0) binds with `SO_REUSEPORT` on Node.js 22.12, 23.1 and later; on
 * older versions (which would ignore it) this fails with `ListenFailed`
 * (and `NodeTls`'s `listen` with `TlsConfigError`, before binding).
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen: (
  host: string,
  port: number,
  backlog?: number | undefined,
  options?: ListenOptions
) => Effect.Effect<Listener, TlsTransportError, Scope.Scope> = internal.listen
