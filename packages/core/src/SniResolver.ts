/**
 * Choosing a server's certificate by the name the client asked for (SNI),
 * with an Effect that runs while the handshake is in flight.
 *
 * A server that finds `SniResolver` in its context consults it for every
 * connection, after the ClientHello has been read (see `ClientHello`) and
 * before the engine is built, so the resolver may be asynchronous: read a
 * certificate store, ask a database. It answers with the context to use,
 * or `None` for the server's own certificate. A resolver that fails or
 * dies aborts only that handshake (with the `internal_error` alert, or the
 * alert it failed with) and is logged with the server name; the server
 * goes on serving others. Without this service a server uses its own
 * options.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type { ClientHello } from "./ClientHello.js"
import * as internal from "./internal/sniResolver.js"
import type { TlsConfigError, TlsError } from "./TlsError.js"
import type { ServerContext } from "./TlsOptions.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface SniResolverService {
  /**
   * The context for a connection. `servername` is the client's SNI name,
   * lower-cased, without a trailing dot, and checked to be a host name
   * (letters, digits, `-`, `_`, non-empty labels: safe as a key or a file
   * name; a client that sends anything else gets `unrecognized_name`
   * before any resolver runs). `None` when the client sent no name.
   */
  readonly resolve: (
    servername: Option.Option<string>,
    clientHello: ClientHello
  ) => Effect.Effect<Option.Option<ServerContext>, TlsError>
  /**
   * Contexts known in advance, with the names they serve. A server builds
   * them when it starts, so a key that does not match its certificate
   * fails `listen`, not a client.
   */
  readonly contexts: ReadonlyArray<readonly [name: string, context: ServerContext]>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class SniResolver extends Context.Tag("@effect-tls/core/SniResolver")<SniResolver, SniResolverService>() {}

/**
 * Options of `layerRecord` / `fromRecord`.
 *
 * @since 0.2.0
 * @category models
 */
export interface RecordOptions {
  /** The context for clients that send no SNI name, and for unknown names unless `strict`. */
  readonly fallback?: ServerContext | undefined
  /**
   * Answer names the record does not know with the `unrecognized_name`
   * alert instead of a fallback certificate. Default `false`.
   */
  readonly strict?: boolean | undefined
}

/**
 * Whether `pattern` (a record key) covers `servername`: an exact name, or a
 * one-label wildcard (`*.example.com` covers `a.example.com`, not
 * `a.b.example.com` nor `example.com`). Case-insensitive.
 *
 * @since 0.2.0
 * @category matching
 */
export const matches: (pattern: string, servername: string) => boolean = internal.matches

/**
 * A resolver from a record of names to contexts. Exact names win over
 * wildcards. Fails with `TlsConfigError` naming the entry when a key is not
 * a host name or one-label wildcard, or a context is malformed.
 *
 * @since 0.2.0
 * @category constructors
 */
export const fromRecord: (
  record: Readonly<Record<string, ServerContext>>,
  options?: RecordOptions
) => Effect.Effect<SniResolverService, TlsConfigError> = internal.fromRecord

/**
 * A resolver from any Effect function.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (
  resolve: (
    servername: Option.Option<string>,
    clientHello: ClientHello
  ) => Effect.Effect<Option.Option<ServerContext>, TlsError>
) => SniResolverService = internal.make

/**
 * Provide `SniResolver` from a record: `{ "example.com": ctx, "*.example.com": ctx2 }`.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerRecord = (
  record: Readonly<Record<string, ServerContext>>,
  options?: RecordOptions
): Layer.Layer<SniResolver, TlsConfigError> => internal.layerRecord(SniResolver, record, options)

/**
 * Provide `SniResolver` from an Effect function. Its requirements are
 * taken from the layer's context once, when the layer is built.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <R>(
  resolve: (
    servername: Option.Option<string>,
    clientHello: ClientHello
  ) => Effect.Effect<Option.Option<ServerContext>, TlsError, R>
): Layer.Layer<SniResolver, never, R> => internal.layer(SniResolver, resolve)
