/**
 * Transports over Bun's own TCP sockets (`Bun.connect`, `Bun.listen`):
 * pull-based, with bounded buffers in both directions.
 *
 * @since 0.1.0
 */
import type { Listener, ListenOptions } from "@effect-tls/core/TlsRuntime"
import type { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Transport } from "@effect-tls/core/Transport"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/bunTransport.js"

/**
 * Open a TCP connection with `Bun.connect`. Closing the scope closes the
 * socket; the wait for the connection can be interrupted. The transport
 * may speak plaintext first and then be handed to `Tls.upgrade` (STARTTLS).
 *
 * @since 0.1.0
 * @category constructors
 */
export const connect: (host: string, port: number) => Effect.Effect<Transport, TlsTransportError, Scope.Scope> =
  internal.connect

/**
 * Listen on `host:port` with `Bun.listen` (port 0 picks a free port).
 * `backlog` is accepted for symmetry with NodeTransport; Bun does not
 * expose it. `reusePort` (since 0.3.0) binds with `SO_REUSEPORT`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const listen: (
  host: string,
  port: number,
  backlog?: number | undefined,
  options?: ListenOptions
) => Effect.Effect<Listener, TlsTransportError, Scope.Scope> = (host, port, backlog, options) =>
  internal.listen(host, port, backlog, options)
