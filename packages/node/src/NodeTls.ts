/**
 * The `Tls` service on Node.js: node:tls as the engine (sans-IO path),
 * node:net as the transport.
 *
 * @since 0.1.0
 */
import * as Tls from "@effect-tls/core/Tls"
import type * as TlsRuntime from "@effect-tls/core/TlsRuntime"
import * as Layer from "effect/Layer"
import * as NodeTlsEngine from "./NodeTlsEngine.js"
import * as NodeTransport from "./NodeTransport.js"

/**
 * What `layer` is built from.
 *
 * @since 0.1.0
 * @category runtime
 */
export const runtime: TlsRuntime.TlsRuntime = {
  clientEngines: NodeTlsEngine.makeClientFactory,
  serverEngines: NodeTlsEngine.makeServerFactory,
  connect: NodeTransport.connect,
  listen: NodeTransport.listen
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Tls.TlsService = Tls.make(runtime)

/**
 * Provides `Tls` on Node.js.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Tls.Tls> = Layer.succeed(Tls.Tls, make)
