/**
 * `Tls.connect` on the native path, shaped like core's connect: options
 * decoded and checked before any socket exists, the TCP connection within
 * `connectTimeout`, the handshake (driven by core's driver) within
 * `handshakeTimeout`, and a connect that fails releases its socket at once.
 *
 * @internal
 */
import type { TlsService } from "@effect-tls/core/Tls"
import * as TlsConnection from "@effect-tls/core/TlsConnection"
import { TlsTimeoutError } from "@effect-tls/core/TlsError"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
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
