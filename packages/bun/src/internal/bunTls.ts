/**
 * Bun's native path as core's `NativePath` (taken for connections that allow truncation): Bun's own TLS sockets
 * (`Bun.connect` / `Bun.listen` with `tls`) wherever they can honour the
 * options exactly. Core does the rest the same way as on the sans-IO path
 * (options decoded before any socket, `connectTimeout`, the driver, the
 * server loop, and the choice of the sans-IO path for servers with an
 * `SniResolver` or `AlpnSelector`).
 *
 * @internal
 */
import type { NativePath } from "@effect-tls/core/TlsRuntime"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as native from "./nativeEngine.js"

/** @internal */
export const nativePath: NativePath = {
  connect: (options, parameters) =>
    native.supportsClient(options)
      ? Option.some(
        // Core checked the options (TlsConfigError before any socket) already.
        Effect.map(
          native.connect(options, parameters?.session),
          (engine) => ({ engine, transport: engine.activityTransport() })
        )
      )
      : Option.none(),
  listen: (options) =>
    native.supportsServer(options)
      ? Option.some(
        Effect.gen(function*() {
          // The same TlsConfigError as the sans-IO path, before binding.
          yield* NodeTlsEngine.makeServerFactory(options)
          const listener = yield* native.listen(options)
          return {
            address: listener.address,
            accept: Effect.map(listener.acceptEngine, (engine) => ({ engine, transport: engine.activityTransport() }))
          }
        })
      )
      : Option.none()
}
