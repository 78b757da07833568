/**
 * The `Tls` service on Node.js: node:tls as the engine (sans-IO path),
 * node:net as the transport; and for connections whose options allow
 * truncation (`allowTruncation`), node:tls on the TCP handle itself (the
 * native path).
 *
 * @since 0.1.0
 */
import * as Tls from "@effect-tls/core/Tls"
import type * as TlsRuntime from "@effect-tls/core/TlsRuntime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NodeTlsEngine from "./NodeTlsEngine.js"
import * as NodeTransport from "./NodeTransport.js"
import * as internalEngine from "./internal/nodeTlsEngine.js"
import * as internalTransport from "./internal/nodeTransport.js"

/**
 * What `layer` is built from.
 *
 * @since 0.1.0
 * @category runtime
 */
export const runtime: TlsRuntime.TlsRuntime = {
  native: { adopt: internalEngine.adopt(internalTransport.detach) },
  clientEngines: NodeTlsEngine.makeClientFactory,
  serverEngines: NodeTlsEngine.makeServerFactory,
  connect: NodeTransport.connect,
  listen: (host, port, backlog, options) =>
    options?.reusePort === true && !internalTransport.supportsReusePort()
      ? Effect.fail(internalTransport.reusePortUnsupported())
      : NodeTransport.listen(host, port, backlog, options)
}

/**
 * @since 0.1.0
 * @category constructors
 */
export const make: Tls.TlsService = Tls.make(runtime)

/**
 * Provides `Tls` on Node.js. Every connection runs on the sans-IO path
 * (node:tls over an in-memory Duplex, which tells close_notify from a bare
 * FIN), except those whose options say `allowTruncation: true`: they run
 * node:tls on the TCP socket's own handle (for a server, once core has
 * read the ClientHello and decided SNI and ALPN), which is faster and
 * cannot tell the two apart.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Tls.Tls> = Layer.succeed(Tls.Tls, make)
