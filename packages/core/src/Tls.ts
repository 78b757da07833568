/**
 * The `Tls` service: the runtime's entry point. `connect` opens a client,
 * `upgrade` runs TLS over an already-open transport (STARTTLS, TLS inside
 * TLS), `listen` binds a server and `serve` runs a handler per connection.
 *
 * Provide it with `NodeTls.layer` (or `BunTls.layer`); runtimes build it
 * with `make` from a `TlsRuntime` (the runtime's side of the contract,
 * in its own module).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/tls.js"
import type { TlsConnection, TlsConnectionError } from "./TlsConnection.js"
import type { TlsConfigError, TlsError, TlsTransportError } from "./TlsError.js"
import type { ClientOptions, ServerContext, ServerOptions, UpgradeOptions } from "./TlsOptions.js"
import type { TlsRuntime } from "./TlsRuntime.js"
import type { Transport } from "./Transport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * A bound TLS server.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsServer {
  /** The address it is bound to (the real port when asked for port 0). */
  readonly address: Address
  /**
   * The next connection, after its handshake. A handshake that fails fails
   * this Effect; call it again for the next client.
   */
  readonly accept: Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope>
  /**
   * Accept forever, running `handler` for each connection in its own fiber
   * and scope. Handshake and handler failures are logged and end only their
   * own connection. Interrupting `serve` interrupts every handler (each
   * connection's close is bounded by its `closeGrace`). At most
   * `maxConnections` connections run at once, and at most `maxHandshakes`
   * of them handshake: at a limit nothing more is accepted until one ends.
   * Established connections (here and from `accept`) fail with
   * `TlsTimeoutError` (`phase: "idle"`) after `idleTimeout` without a
   * completed read or write.
   */
  readonly serve: <E, R>(
    handler: (connection: TlsConnection) => Effect.Effect<unknown, E, R>
  ) => Effect.Effect<never, TlsTransportError, R>
  /**
   * Replace the server's own certificate context (certificate and key, and
   * with them the CA for client certificates, `requestCert`, versions,
   * ciphers, ALPN; fields left out are the server's options' own) without
   * a restart: handshakes that start after this completes use it,
   * connections already established (or handshaking) keep theirs. A bad
   * replacement (PEM that does not parse, a key that does not match its
   * certificate) fails with `TlsConfigError` and the previous context keeps
   * serving. Contexts an `SniResolver` picks are its own.
   *
   * A server on Bun's own TLS listener (`allowTruncation: true` without
   * resolvers) cannot: Bun's listener keeps the TLS context it was bound
   * with, and this fails with `TlsConfigError`; give the `reload` option at
   * `listen` and the server runs where it can.
   *
   * @since 0.3.0
   */
  readonly reload: (context: ServerContext) => Effect.Effect<void, TlsConfigError>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsService {
  readonly connect: (options: ClientOptions) => Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope>
  readonly upgrade: (
    transport: Transport,
    options: UpgradeOptions
  ) => Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope>
  readonly listen: (options: ServerOptions) => Effect.Effect<TlsServer, TlsError, Scope.Scope>
  readonly serve: <E, R>(
    options: ServerOptions,
    handler: (connection: TlsConnection) => Effect.Effect<unknown, E, R>
  ) => Effect.Effect<never, TlsError, R>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class Tls extends Context.Tag("@effect-tls/core/Tls")<Tls, TlsService>() {}

/**
 * Build the `Tls` service from a runtime.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (runtime: TlsRuntime) => TlsService = internal.make

/**
 * Open a TLS client connection.
 *
 * @since 0.1.0
 * @category accessors
 */
export const connect = (options: ClientOptions): Effect.Effect<TlsConnection, TlsConnectionError, Tls | Scope.Scope> =>
  Effect.flatMap(Tls, (tls) => tls.connect(options))

/**
 * Run TLS, in either role, over a transport that is already open.
 *
 * @since 0.1.0
 * @category accessors
 */
export const upgrade = (
  transport: Transport,
  options: UpgradeOptions
): Effect.Effect<TlsConnection, TlsConnectionError, Tls | Scope.Scope> =>
  Effect.flatMap(Tls, (tls) => tls.upgrade(transport, options))

/**
 * Bind a TLS server.
 *
 * @since 0.1.0
 * @category accessors
 */
export const listen = (options: ServerOptions): Effect.Effect<TlsServer, TlsError, Tls | Scope.Scope> =>
  Effect.flatMap(Tls, (tls) => tls.listen(options))

/**
 * Bind a TLS server and run `handler` for every connection, for as long as
 * this Effect runs.
 *
 * @since 0.1.0
 * @category accessors
 */
export const serve = <E, R>(
  options: ServerOptions,
  handler: (connection: TlsConnection) => Effect.Effect<unknown, E, R>
): Effect.Effect<never, TlsError, Tls | R> => Effect.flatMap(Tls, (tls) => tls.serve(options, handler))
