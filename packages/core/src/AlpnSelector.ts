/**
 * Choosing the application protocol (ALPN, RFC 7301) of a server
 * connection with an Effect, while the handshake is in flight.
 *
 * A server that finds `AlpnSelector` in its context asks it, for every
 * client that offers ALPN, which of the offered protocols to speak. It
 * answers `Some(protocol)` (one of those offered), `None` to go on
 * without ALPN, or fails with a `TlsAlertError` to send that alert
 * (`no_application_protocol` when nothing offered is acceptable, RFC 7301
 * section 3.2). Without this service a server picks by its own
 * `alpnProtocols`, in its preference order, and answers a client with no
 * protocol in common with `no_application_protocol`.
 *
 * @since 0.2.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import * as internal from "./internal/alpnSelector.js"
import type { TlsConfigError, TlsError } from "./TlsError.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface AlpnSelectorService {
  /**
   * The protocol for a connection. `offered` is the client's list in its
   * order (never empty); `servername` its SNI name, lower-cased.
   */
  readonly select: (
    offered: ReadonlyArray<string>,
    servername: Option.Option<string>
  ) => Effect.Effect<Option.Option<string>, TlsError>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class AlpnSelector extends Context.Tag("@effect-tls/core/AlpnSelector")<AlpnSelector, AlpnSelectorService>() {}

/**
 * What to do when the client offers nothing the server speaks: send the
 * `no_application_protocol` alert (RFC 7301, the default), or go on
 * without ALPN.
 *
 * @since 0.2.0
 * @category models
 */
export type OnMismatch = "alert" | "continue"

/**
 * The first of `protocols` (the server's preference order) that the client
 * offers.
 *
 * @since 0.2.0
 * @category constructors
 */
export const preference: (
  protocols: ReadonlyArray<string>,
  options?: { readonly onMismatch?: OnMismatch | undefined }
) => AlpnSelectorService = internal.preference

/**
 * A selector from any Effect function.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make: (select: AlpnSelectorService["select"]) => AlpnSelectorService = internal.make

/**
 * Provide `AlpnSelector` choosing by the server's preference order. Fails
 * with `TlsConfigError` when a protocol name is not valid ALPN.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerPreference = (
  protocols: ReadonlyArray<string>,
  options?: { readonly onMismatch?: OnMismatch | undefined }
): Layer.Layer<AlpnSelector, TlsConfigError> => internal.layerPreference(AlpnSelector, protocols, options)

/**
 * Provide `AlpnSelector` from an Effect function. Its requirements are
 * taken from the layer's context once, when the layer is built.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer = <R>(
  select: (
    offered: ReadonlyArray<string>,
    servername: Option.Option<string>
  ) => Effect.Effect<Option.Option<string>, TlsError, R>
): Layer.Layer<AlpnSelector, never, R> => internal.layer(AlpnSelector, select)
