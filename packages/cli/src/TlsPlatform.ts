/**
 * The runtime the command runs on, chosen when it starts: Bun when
 * `process.versions.bun` is set, Node otherwise. It provides the `Tls`
 * service of that runtime (`BunTls.layer` or `NodeTls.layer`) and the
 * runtime's plain TCP connect, which `probe` uses to time the TCP connect
 * apart from the handshake and to speak STARTTLS before `Tls.upgrade`, and
 * `serve` uses to reach its backends.
 *
 * @since 0.2.0
 */
import type { Tls } from "@effect-tls/core/Tls"
import type { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Transport } from "@effect-tls/core/Transport"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/tlsPlatform.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface TlsPlatformService {
  /** `"node"` or `"bun"`. */
  readonly name: "node" | "bun"
  /** The runtime's version, `"20.20.2"`. */
  readonly version: string
  /** Open a plain TCP connection. Closing the scope releases it. */
  readonly connect: (host: string, port: number) => Effect.Effect<Transport, TlsTransportError, Scope.Scope>
}

/**
 * @since 0.2.0
 * @category tags
 */
export class TlsPlatform extends Context.Tag("@effect-tls/cli/TlsPlatform")<TlsPlatform, TlsPlatformService>() {}

/**
 * Whether this process runs on Bun.
 *
 * @since 0.2.0
 * @category runtime
 */
export const isBun: () => boolean = internal.isBun

/**
 * `TlsPlatform` and `Tls` for the runtime this process runs on. The Bun
 * package is loaded only on Bun.
 *
 * @since 0.2.0
 * @category layers
 */
export const layer: Layer.Layer<TlsPlatform | Tls> = internal.layer(TlsPlatform)

/**
 * `TlsPlatform` and `Tls` on Node, whatever runs the process.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerNode: Layer.Layer<TlsPlatform | Tls> = internal.layerNode(TlsPlatform)
