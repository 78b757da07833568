/**
 * `Tls.connect` and `Tls.listen` on the native path, shaped like core's:
 * options decoded and checked before any socket exists, the TCP connection
 * within `connectTimeout`, the handshake (driven by core's driver) within
 * `handshakeTimeout`, a connect that fails releases its socket at once,
 * and `serve` runs each connection in its own fiber and scope.
 *
 * `makeServer` repeats core's (internal) server loop: core does not export
 * it, and a native listener hands out connections, not transports.
 *
 * @internal
 */
import { AlpnSelector } from "@effect-tls/core/AlpnSelector"
import { SniResolver } from "@effect-tls/core/SniResolver"
import type { Address, TlsServer, TlsService } from "@effect-tls/core/Tls"
import * as TlsConnection from "@effect-tls/core/TlsConnection"
import { TlsTimeoutError } from "@effect-tls/core/TlsError"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as FiberSet from "effect/FiberSet"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as native from "./native.js"

const releasingOnFailure = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Effect.Effect<A, E, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (parent) =>
    Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (child) =>
      Scope.extend(effect, child).pipe(
        Effect.onExit((exit) => (exit._tag === "Failure" ? Scope.close(child, exit) : Effect.void))
      )))

/** @internal */
export const connect = (
  input: TlsOptions.ClientOptions,
  fallback: TlsService["connect"]
): ReturnType<TlsService["connect"]> =>
  Effect.flatMap(TlsOptions.decodeClient(input), (resolved) => {
    if (!native.supportsClient(resolved)) return fallback(input)
    return releasingOnFailure(Effect.gen(function*() {
      // The same TlsConfigError as the sans-IO path, before any socket.
      yield* NodeTlsEngine.makeClientFactory(resolved)
      const millis = Duration.toMillis(resolved.connectTimeout)
      const engine = yield* native.connect(resolved).pipe(
        Effect.timeoutFail({
          duration: resolved.connectTimeout,
          onTimeout: () => new TlsTimeoutError({ phase: "connect", millis })
        })
      )
      return yield* TlsConnection.make(engine, engine.activityTransport(), resolved)
    }))
  })

const makeServer = (
  address: Address,
  acceptEngine: Effect.Effect<native.NativeEngine>,
  options: TlsOptions.ResolvedServerListen
): TlsServer => {
  const owned = (engine: native.NativeEngine) => Effect.acquireRelease(Effect.succeed(engine), (e) => e.close)
  const handshake = (engine: native.NativeEngine) =>
    TlsConnection.make(engine, engine.activityTransport(), options)
  return {
    address,
    accept: Effect.uninterruptibleMask((restore) =>
      restore(acceptEngine).pipe(
        Effect.flatMap(owned),
        Effect.flatMap((engine) => restore(handshake(engine)))
      )
    ),
    serve: (handler) =>
      Effect.gen(function*() {
        const fibers = yield* FiberSet.make()
        const runConnection = (engine: native.NativeEngine) => {
          const peer = Effect.annotateLogs("peer", engine.activityTransport().remoteAddress ?? "unknown")
          return owned(engine).pipe(
            Effect.zipRight(
              handshake(engine).pipe(
                Effect.tapErrorCause((cause) => Effect.logDebug("TLS handshake failed", cause).pipe(peer)),
                Effect.flatMap((connection) =>
                  handler(connection).pipe(
                    Effect.tapErrorCause((cause) => Effect.logWarning("TLS connection handler failed", cause).pipe(peer))
                  )
                ),
                Effect.interruptible
              )
            ),
            Effect.scoped,
            Effect.ignore
          )
        }
        return yield* Effect.forever(
          Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(restore(acceptEngine), (engine) => FiberSet.run(fibers, runConnection(engine)))
          )
        )
      }).pipe(Effect.scoped)
  }
}

/**
 * Native when no SniResolver or AlpnSelector is provided (those need the
 * ClientHello read by core before the engine exists) and the options can
 * be honoured natively; core's sans-IO server otherwise.
 * @internal
 */
export const listen = (
  input: TlsOptions.ServerOptions,
  fallback: TlsService["listen"]
): ReturnType<TlsService["listen"]> =>
  Effect.gen(function*() {
    const resolved = yield* TlsOptions.decodeServer(input)
    const sni = yield* Effect.serviceOption(SniResolver)
    const alpn = yield* Effect.serviceOption(AlpnSelector)
    if (Option.isSome(sni) || Option.isSome(alpn) || !native.supportsServer(resolved)) return yield* fallback(input)
    // The same TlsConfigError as the sans-IO path, before binding.
    yield* NodeTlsEngine.makeServerFactory(resolved)
    const listener = yield* native.listen(resolved)
    return makeServer(listener.address, listener.acceptEngine, resolved)
  })
