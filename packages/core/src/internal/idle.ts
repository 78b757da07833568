/**
 * The idle timeout of a server's connections, kept outside the driver: a
 * connection on which no read or write completed for `timeout` fails every
 * pending and later call with `TlsTimeoutError` (phase `"idle"`) and is
 * closed abortively (an idle peer may not read a close_notify either).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { TlsConnection, TlsConnectionError } from "../TlsConnection.js"
import * as deadline from "./deadline.js"
import { withStreams } from "./tlsConnection.js"
import { TlsTimeoutError } from "../TlsError.js"

/** @internal */
export const withIdleTimeout = (
  connection: TlsConnection,
  timeout: Duration.Duration
): Effect.Effect<TlsConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!Duration.isFinite(timeout)) return connection
    const millis = Duration.toMillis(timeout)
    // The clock is read synchronously on every completed call: no Effect,
    // no fiber per call, so a busy connection pays (almost) nothing.
    const clock = yield* Effect.clock
    let last = clock.unsafeCurrentTimeMillis()
    let expired: TlsTimeoutError | undefined
    // Waits until the deadline; activity in the meantime moves it. Then the
    // error is recorded first and the connection aborted, so every pending
    // call (which fails as the connection closes) reports the idle error.
    const left = () => last + millis - clock.unsafeCurrentTimeMillis()
    const expire = Effect.suspend(() => {
      expired = new TlsTimeoutError({ phase: "idle", millis })
      return connection.abort
    })
    const timer = millis <= deadline.MAX_TIMER_MILLIS ? deadline.liveTimer(clock) : undefined
    if (timer !== undefined) {
      // Under the live clock: a timer re-armed while there is activity, no fiber.
      const runtime = yield* Effect.runtime<never>()
      const scope = yield* Effect.scope
      let cancel: (() => void) | undefined
      const check = () => {
        const wait = left()
        cancel = wait > 0 ? timer(check, wait) : undefined
        if (wait <= 0) Runtime.runFork(runtime)(expire)
      }
      cancel = timer(check, millis)
      yield* Scope.addFinalizer(scope, Effect.sync(() => cancel?.()))
    } else {
      yield* Effect.forkScoped(
        Effect.gen(function*() {
          for (let wait = left(); wait > 0; wait = left()) yield* Effect.sleep(Duration.millis(wait))
          yield* expire
        })
      )
    }
    const onFailure = (e: TlsConnectionError) => Effect.fail(expired ?? e)
    const onSuccess = <A>(a: A) => {
      last = clock.unsafeCurrentTimeMillis()
      return Effect.succeed(a)
    }
    const guarded = <A>(op: Effect.Effect<A, TlsConnectionError>): Effect.Effect<A, TlsConnectionError> => {
      // Built once per operation, not per call.
      const watched = Effect.matchEffect(op, { onFailure, onSuccess: onSuccess<A> })
      return Effect.suspend(() => (expired !== undefined ? Effect.fail(expired) : watched))
    }
    const read = guarded(connection.read)
    const write = (data: Uint8Array | string) => guarded(connection.write(data))
    return withStreams({
      info: connection.info,
      remoteAddress: connection.remoteAddress,
      abort: connection.abort,
      read,
      write,
      shutdown: guarded(connection.shutdown)
    })
  })
