/** @internal */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberSet from "effect/FiberSet"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import type { Listener, TlsRuntime, TlsServer, TlsService } from "../Tls.js"
import * as TlsConnection from "../TlsConnection.js"
import type { TlsEngineFactory } from "../TlsEngine.js"
import { TlsTimeoutError } from "../TlsError.js"
import type * as O from "../TlsOptions.js"
import type { Transport } from "../Transport.js"
import * as options from "./options.js"
import * as serverHandshake from "./serverHandshake.js"

const handshakeOver = (
  factory: TlsEngineFactory,
  transport: Transport,
  resolved: O.ResolvedClient
) =>
  Effect.acquireRelease(factory.make({ remoteAddress: transport.remoteAddress }), (engine) => engine.destroy).pipe(
    Effect.flatMap((engine) => TlsConnection.make(engine, transport, resolved))
  )

/**
 * Run `effect` in a child of the caller's scope that is closed at once if
 * it fails, so a connect that fails or times out releases its socket now,
 * not when the caller's scope ends.
 */
const releasingOnFailure = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Effect.Effect<A, E, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (parent) =>
    Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (child) =>
      Scope.extend(effect, child).pipe(
        Effect.onExit((exit) => (exit._tag === "Failure" ? Scope.close(child, exit) : Effect.void))
      )))

/** Own `transport` in the current scope. */
const owned = (transport: Transport): Effect.Effect<Transport, never, Scope.Scope> =>
  Effect.acquireRelease(Effect.succeed(transport), (t) => t.close)

type ServerHandshake = (
  transport: Transport
) => Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, Scope.Scope>

const makeServer = (listener: Listener, handshake: ServerHandshake): TlsServer => {
  // Accepted transports are owned by a scope before anything interruptible
  // runs, so an interruption at any point releases them.
  return {
    address: listener.address,
    accept: Effect.uninterruptibleMask((restore) =>
      restore(listener.accept).pipe(
        Effect.flatMap(owned),
        Effect.flatMap((t) => restore(handshake(t)))
      )
    ),
    serve: (handler) =>
      Effect.gen(function*() {
        const fibers = yield* FiberSet.make()
        const peer = (transport: Transport) => Effect.annotateLogs("peer", transport.remoteAddress ?? "unknown")
        const runConnection = (transport: Transport) =>
          owned(transport).pipe(
            Effect.zipRight(
              handshake(transport).pipe(
                Effect.tapErrorCause((cause) => Effect.logDebug("TLS handshake failed", cause).pipe(peer(transport))),
                Effect.flatMap((connection) =>
                  handler(connection).pipe(
                    Effect.tapErrorCause((cause) =>
                      Effect.logWarning("TLS connection handler failed", cause).pipe(peer(transport))
                    )
                  )
                ),
                Effect.interruptible
              )
            ),
            Effect.scoped,
            Effect.ignore
          )
        return yield* Effect.forever(
          Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(restore(listener.accept), (t) => FiberSet.run(fibers, runConnection(t)))
          )
        )
      }).pipe(Effect.scoped)
  }
}

/** @internal */
export const make = (runtime: TlsRuntime): TlsService => {
  const serverEngines = serverHandshake.cachedEngines(runtime)
  const listen = (input: O.ServerOptions) =>
    Effect.gen(function*() {
      const resolved = yield* options.decodeServer(input)
      const handshake = yield* serverHandshake.make(serverEngines, resolved)
      const listener = yield* runtime.listen(resolved.host, resolved.port, resolved.backlog)
      return makeServer(listener, handshake)
    })
  return {
    connect: (input) =>
      releasingOnFailure(Effect.gen(function*() {
        const resolved = yield* options.decodeClient(input)
        const factory = yield* runtime.clientEngines(resolved)
        const millis = Duration.toMillis(resolved.connectTimeout)
        const transport = yield* runtime.connect(resolved.host, resolved.port).pipe(
          Effect.timeoutFail({
            duration: resolved.connectTimeout,
            onTimeout: () => new TlsTimeoutError({ phase: "connect", millis })
          })
        )
        return yield* handshakeOver(factory, transport, resolved)
      })),
    upgrade: (transport, input) =>
      Effect.gen(function*() {
        const resolved = yield* options.decodeUpgrade(input)
        if (resolved.role === "client") {
          const factory = yield* runtime.clientEngines(resolved)
          const t = yield* owned(transport)
          return yield* handshakeOver(factory, t, resolved)
        }
        const handshake = yield* serverHandshake.make(serverEngines, resolved)
        const t = yield* owned(transport)
        return yield* handshake(t)
      }),
    listen,
    serve: (input, handler) =>
      listen(input).pipe(
        Effect.flatMap((server) => server.serve(handler)),
        Effect.scoped
      )
  }
}
