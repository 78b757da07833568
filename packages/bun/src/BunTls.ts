/**
 * The `Tls` service on Bun: the same contract as `NodeTls.layer`, over
 * Bun's own sockets. Two paths, chosen by each connection's close
 * semantics:
 *
 * - sans-IO (the default, and everything on `layerSansIo`): a TLS engine
 *   driven by core's driver over `BunTransport` sockets; a FIN without
 *   close_notify is `TlsUnexpectedEof`, as on Node;
 * - native (`layer`, for connections whose options say
 *   `allowTruncation: true`, where it applies): Bun's own TLS sockets
 *   (`Bun.connect` / `Bun.listen` with `tls`), BoringSSL inside Bun, at
 *   the plaintext level under core's driver. Bun reports a bare FIN (and
 *   a fatal alert at the end of a connection) like close_notify, which is
 *   what that option accepts.
 *
 * The sans-IO engine is `@effect-tls/node`'s `NodeTlsEngine`: Bun
 * implements `node:tls` (over BoringSSL), and a `TLSSocket` over an
 * in-memory Duplex is exactly the engine that module builds, so this
 * package reuses it rather than keeping a second copy of the same logic.
 * The transport is Bun's (`BunTransport`).
 *
 * @since 0.1.0
 */
import * as Tls from "@effect-tls/core/Tls"
import type * as TlsRuntime from "@effect-tls/core/TlsRuntime"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import * as Layer from "effect/Layer"
import * as BunTransport from "./BunTransport.js"
import { nativePath } from "./internal/bunTls.js"

/**
 * What the sans-IO path is built from.
 *
 * @since 0.1.0
 * @category runtime
 */
export const runtime: TlsRuntime.TlsRuntime = {
  clientEngines: NodeTlsEngine.makeClientFactory,
  serverEngines: NodeTlsEngine.makeServerFactory,
  connect: BunTransport.connect,
  listen: BunTransport.listen
}

/**
 * The `Tls` service on the sans-IO path only.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeSansIo: Tls.TlsService = Tls.make(runtime)

/**
 * The `Tls` service: the sans-IO path by default; for connections whose
 * options say `allowTruncation: true`, `connect`, `listen` and `serve`
 * use Bun's own TLS sockets when the options can be honoured natively (no
 * `ciphers` or `crl`) and, for servers, no `SniResolver` or
 * `AlpnSelector` is provided (those need core to read the ClientHello
 * before the TLS engine exists); otherwise, and for `upgrade`, the
 * sans-IO path (where `allowTruncation` means the same).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Tls.TlsService = Tls.make({ ...runtime, native: nativePath })

/**
 * Provides `Tls` on Bun: the sans-IO engine (node:tls as Bun implements
 * it, over Bun sockets) by default, like `NodeTls.layer`; Bun's own TLS
 * sockets for connections that allow truncation (see `make`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Tls.Tls> = Layer.succeed(Tls.Tls, make)

/**
 * Provides `Tls` on Bun, always on the sans-IO path, whatever the options:
 * the engine driven over Bun sockets for every operation (`allowTruncation`
 * still reads a bare FIN as an end). For comparing the paths, or to keep
 * Bun's native sockets out of a program.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSansIo: Layer.Layer<Tls.Tls> = Layer.succeed(Tls.Tls, makeSansIo)
