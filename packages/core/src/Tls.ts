/**
 * The `Tls` service: the runtime's entry point. `connect` opens a client,
 * `upgrade` runs TLS over an already-open transport (STARTTLS, TLS inside
 * TLS), `listen` binds a server and `serve` runs a handler per connection.
 *
 * Provide it with `NodeTls.layer` (or `BunTls.layer`); runtimes build it
 * with `make` from a `TlsRuntime`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/tls.js"
import type { TlsConnection, TlsConnectionError } from "./TlsConnection.js"
import type { TlsEngine, TlsEngineFactory } from "./TlsEngine.js"
import type { TlsConfigError, TlsError, TlsTransportError } from "./TlsError.js"
import type {
  ClientOptions,
  ResolvedClient,
  ResolvedClientConnect,
  ResolvedServer,
  ResolvedServerListen,
  ServerOptions,
  UpgradeOptions
} from "./TlsOptions.js"
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
   * own connection. Interrupting `serve` interrupts every handler.
   */
  readonly serve: <E, R>(
    handler: (connection: TlsConnection) => Effect.Effect<unknown, E, R>
  ) => Effect.Effect<never, TlsTransportError, R>
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
 * A listening socket that hands out plain transports.
 *
 * @since 0.1.0
 * @category runtime
 */
export interface Listener {
  readonly address: Address
  /** The next accepted transport. The caller owns it and must close it. */
  readonly accept: Effect.Effect<Transport, TlsTransportError>
}

/**
 * A connection whose TLS runs inside the runtime's own socket (the native
 * path): an engine that works at the plaintext level (no plaintext
 * buffered yet = `TlsWantRead`; it never drains ciphertext), and a
 * transport that carries no bytes but completes `read` when the socket did
 * something, so that core's driver knows when to retry. Closing the
 * transport releases the socket.
 *
 * @since 0.2.0
 * @category runtime
 */
export interface NativeConnection {
  readonly engine: TlsEngine
  readonly transport: Transport
}

/**
 * A listening socket of the native path.
 *
 * @since 0.2.0
 * @category runtime
 */
export interface NativeListener {
  readonly address: Address
  /** The next accepted connection, before its handshake. The caller owns it. */
  readonly accept: Effect.Effect<NativeConnection, TlsTransportError>
}

/**
 * A runtime's native fast path. Each function answers `None` when the
 * native socket cannot honour the options exactly; core then takes the
 * sans-IO path. Core also takes it for servers given an `SniResolver` or
 * `AlpnSelector` (they need the ClientHello read before any TLS runs).
 * Core keeps everything else the same on both paths: options decoded
 * before any socket, `connectTimeout`, the driver (retries,
 * `handshakeTimeout`, sticky errors, close_notify on scope close), the
 * server loop.
 *
 * @since 0.2.0
 * @category runtime
 */
export interface NativePath {
  readonly connect: (
    options: ResolvedClientConnect
  ) => Option.Option<Effect.Effect<NativeConnection, TlsError, Scope.Scope>>
  readonly listen: (
    options: ResolvedServerListen
  ) => Option.Option<Effect.Effect<NativeListener, TlsError, Scope.Scope>>
}

/**
 * What a runtime supplies to build the `Tls` service.
 *
 * @since 0.1.0
 * @category runtime
 */
export interface TlsRuntime {
  /** The native fast path, where the runtime has one. */
  readonly native?: NativePath | undefined
  readonly clientEngines: (options: ResolvedClient) => Effect.Effect<TlsEngineFactory, TlsConfigError>
  readonly serverEngines: (options: ResolvedServer) => Effect.Effect<TlsEngineFactory, TlsConfigError>
  /** Open a TCP connection. Interruptible; closing the scope releases it. */
  readonly connect: (host: string, port: number) => Effect.Effect<Transport, TlsTransportError, Scope.Scope>
  readonly listen: (
    host: string,
    port: number,
    backlog: number | undefined
  ) => Effect.Effect<Listener, TlsTransportError, Scope.Scope>
}

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
