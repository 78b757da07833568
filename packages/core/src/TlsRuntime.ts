/**
 * The runtime's side of the contract: what a runtime package (`NodeTls`,
 * `BunTls`) supplies so that core can build the `Tls` service with
 * `Tls.make`. Users of the library never need this module; authors of a
 * runtime package do.
 *
 * A runtime supplies TLS engines, plain TCP transports and listeners (the
 * sans-IO path), and optionally a native path whose TLS runs inside the
 * runtime's own sockets. Core keeps everything else: option decoding, the
 * driver, the server loop, SNI/ALPN resolution.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import * as resource from "./internal/resource.js"
import * as internal from "./internal/transport.js"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Address } from "./Tls.js"
import type { EngineParameters, TlsEngine, TlsEngineFactory } from "./TlsEngine.js"
import type { TlsConfigError, TlsError, TlsTransportError } from "./TlsError.js"
import type { ResolvedClient, ResolvedClientConnect, ResolvedServer, ResolvedServerListen } from "./TlsOptions.js"
import type { Transport } from "./Transport.js"

/**
 * A listening socket that hands out plain transports.
 *
 * @since 0.2.0
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
  /**
   * Make `options` (the server's, with a replacement certificate context)
   * the context of the handshakes that start from now on, leaving
   * established connections as they are; a bad one fails with
   * `TlsConfigError` and changes nothing. Missing where the runtime's
   * listener cannot (`TlsServer.reload` then fails with `TlsConfigError`,
   * and core never asks `listen` for a server given the `reload` option).
   *
   * @since 0.3.0
   */
  readonly reload?: ((options: ResolvedServer) => Effect.Effect<void, TlsConfigError>) | undefined
}

/**
 * How a runtime's `listen` binds, besides its address and backlog.
 *
 * @since 0.3.0
 * @category runtime
 */
export interface ListenOptions {
  /**
   * Bind with `SO_REUSEPORT`. A runtime that cannot fails with
   * `TlsConfigError`: it never ignores it.
   */
  readonly reusePort?: boolean | undefined
}

/**
 * What `NativePath.adopt` is given besides the transport and the factory.
 *
 * @since 0.3.0
 * @category runtime
 */
export interface AdoptParameters extends EngineParameters {
  /**
   * Bytes core already read from the transport (a server's ClientHello):
   * the runtime's TLS must see them first, exactly as they came.
   */
  readonly received: Uint8Array
}

/**
 * A runtime's native path: TLS inside the runtime's own sockets. A
 * native socket cannot tell close_notify from a bare TCP FIN, so core
 * takes this path only for connections whose options allow that
 * (`allowTruncation`), and the sans-IO path for every other.
 *
 * Each function answers `None` when the native socket cannot honour the
 * options exactly; core then takes the sans-IO path. Core keeps
 * everything else the same on both paths: options decoded before any
 * socket (for a client, including the runtime's engine factory, so a
 * `TlsConfigError` is the same on both paths), `connectTimeout`, the
 * driver (retries, `handshakeTimeout`, sticky errors, close_notify on
 * scope close), the server loop.
 *
 * - `connect` and `listen` open the runtime's own TLS sockets. `listen`
 *   is not asked for servers given an `SniResolver` or `AlpnSelector`
 *   (they need the ClientHello read before any TLS runs).
 * - `adopt` runs the runtime's TLS on a transport the runtime made (one of
 *   its TCP transports) with an engine factory it built: the socket leaves
 *   the transport and its TLS runs on the socket's own handle. Core uses
 *   it where `connect` or `listen` answers `None` (or is missing): a
 *   client over `TlsRuntime.connect`, a server once core has read the
 *   ClientHello and decided SNI and ALPN (so resolvers work natively),
 *   and `upgrade`.
 *
 * @since 0.2.0
 * @category runtime
 */
export interface NativePath {
  readonly connect?: (
    options: ResolvedClientConnect,
    /** @since 0.3.0: a session to offer (see `EngineParameters.session`). */
    parameters?: { readonly session?: Uint8Array | undefined }
  ) => Option.Option<Effect.Effect<NativeConnection, TlsError, Scope.Scope>>
  readonly listen?: (
    options: ResolvedServerListen
  ) => Option.Option<Effect.Effect<NativeListener, TlsError, Scope.Scope>>
  /** @since 0.3.0 */
  readonly adopt?: (
    transport: Transport,
    factory: TlsEngineFactory,
    parameters: AdoptParameters
  ) => Option.Option<Effect.Effect<NativeConnection, TlsError, Scope.Scope>>
}

/**
 * What a runtime supplies to build the `Tls` service.
 *
 * @since 0.2.0
 * @category runtime
 */
export interface TlsRuntime {
  /** The native path (for connections that allow truncation), where the runtime has one. */
  readonly native?: NativePath | undefined
  readonly clientEngines: (options: ResolvedClient) => Effect.Effect<TlsEngineFactory, TlsConfigError>
  readonly serverEngines: (options: ResolvedServer) => Effect.Effect<TlsEngineFactory, TlsConfigError>
  /** Open a TCP connection. Interruptible; closing the scope releases it. */
  readonly connect: (host: string, port: number) => Effect.Effect<Transport, TlsTransportError, Scope.Scope>
  readonly listen: (
    host: string,
    port: number,
    backlog: number | undefined,
    options?: ListenOptions
  ) => Effect.Effect<Listener, TlsTransportError | TlsConfigError, Scope.Scope>
}

/**
 * The bookkeeping of a native connection's transport, which carries no
 * bytes, only news (see `NativeConnection`). The engine calls `note` on
 * every socket event that can change what its `read` or `handshake`
 * answers (not on a drain: a write making room is no news for a reader,
 * so it never spends a pending read's retry), and `wanted` whenever it
 * answers a Want for input. The transport's `read` (and its `immediate`)
 * answers an empty chunk once there is news since the last Want, taking
 * it, so the driver retries exactly then; it fails with
 * `TlsTransportError` "Closed" once the connection is closed.
 *
 * @since 0.3.0
 * @category runtime
 */
export interface NativeNews {
  /** Something happened that can change what the engine's `read` or `handshake` answers. */
  note(): void
  /** The engine answered a Want for input: news from now on is what the driver waits for. */
  wanted(): void
  /** The transport of this connection (one per connection). */
  transport(options: NativeNewsTransport): Transport
}

/**
 * What `NativeNews.transport` is built from.
 *
 * @since 0.3.0
 * @category runtime
 */
export interface NativeNewsTransport {
  /** Whether the connection is closed (a read waiting for news then fails). */
  readonly isClosed: () => boolean
  /** Completes once the socket handed our close_notify and FIN on (or is gone). */
  readonly end: Effect.Effect<void>
  /** Releases the socket. */
  readonly close: Effect.Effect<void>
  readonly remoteAddress: string | undefined
}

/**
 * @since 0.3.0
 * @category constructors
 */
export const makeNativeNews: () => NativeNews = internal.makeNativeNews

/**
 * A per-connection resource (a socket, an engine) for runtime authors:
 * `make()` is owned by the current scope in one uninterruptible step and
 * released with `release` when it closes. Unlike `Effect.acquireRelease`,
 * the release does not restore the acquiring fiber's FiberRefs, so a
 * connection does not keep the span it was made in (its handshake's)
 * alive for as long as it lives, and the release costs no FiberRef diff.
 *
 * @since 0.3.0
 * @category constructors
 */
export const ownedByScope: <A>(
  make: () => A,
  release: (a: A) => Effect.Effect<unknown>
) => Effect.Effect<A, never, Scope.Scope> = resource.ownedByScope

