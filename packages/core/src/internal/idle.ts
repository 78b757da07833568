/**
 * The idle timeout of a server's connections: a connection on which no
 * read or write completed for `timeout` fails every pending and later call
 * with `TlsTimeoutError` (phase `"idle"`) and is closed abortively (an idle
 * peer may not read a close_notify either).
 *
 * A connection the driver made tells the deadline of each completed call
 * itself, and expires with the error (`lifecycle` in tlsConnection.ts): no step,
 * no wrapper, per call. Any other connection is wrapped.
 *
 * @internal
 */
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import type * as Option from "effect/Option"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import * as Scope from "effect/Scope"
import type { TlsConnection, TlsConnectionError } from "../TlsConnection.js"
import * as deadline from "./deadline.js"
import { lifecycle, withStreams } from "./tlsConnection.js"
import { TlsTimeoutError } from "../TlsError.js"

/**
 * The idle deadline of a connection: every completed call moves it (the
 * clock is read synchronously: no Effect, no fiber per call, so a busy
 * connection pays almost nothing). When it passes, the error is recorded
 * first and the connection aborted, so every pending call (which fails as
 * the connection closes) and every later one reports the idle error.
 */
class IdleDeadline {
  last: number
  expired: TlsTimeoutError | undefined = undefined

  constructor(
    private readonly connection: TlsConnection,
    private readonly clock: Clock.Clock,
    private readonly millis: number
  ) {
    this.last = clock.unsafeCurrentTimeMillis()
  }

  /** Milliseconds until the deadline (0 or less: passed). */
  left(): number {
    return this.last + this.millis - this.clock.unsafeCurrentTimeMillis()
  }

  /** A call completed: the deadline moves. */
  touch(): void {
    this.last = this.clock.unsafeCurrentTimeMillis()
  }

  #expire: Effect.Effect<void> | undefined = undefined
  get expire(): Effect.Effect<void> {
    return this.#expire ??= Effect.suspend(() => {
      const error = this.expired = new TlsTimeoutError({ phase: "idle", millis: this.millis })
      const driven = lifecycle(this.connection)
      return driven === undefined ? this.connection.abort : driven.expire(error)
    })
  }

  // Built once per connection, not per call.
  #onFailure: ((e: TlsConnectionError) => Effect.Effect<never, TlsConnectionError>) | undefined = undefined
  #onSuccess: (<A>(a: A) => Effect.Effect<A>) | undefined = undefined

  /** `op`, moving the deadline when it completes; the idle error once it passed. */
  private watched<A>(op: Effect.Effect<A, TlsConnectionError>): Effect.Effect<A, TlsConnectionError> {
    const onFailure = this.#onFailure ??= (e) => Effect.fail(this.expired ?? e)
    const onSuccess = this.#onSuccess ??= <A>(a: A) => {
      this.touch()
      return Effect.succeed(a)
    }
    const watched = Effect.matchEffect(op, { onFailure, onSuccess: onSuccess<A> })
    return Effect.suspend(() => (this.expired !== undefined ? Effect.fail(this.expired) : watched))
  }

  #read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> | undefined = undefined
  get read() {
    return this.#read ??= this.watched(this.connection.read)
  }
  write(data: Uint8Array | string) {
    return this.watched(this.connection.write(data))
  }
  #shutdown: Effect.Effect<void, TlsConnectionError> | undefined = undefined
  get shutdown() {
    return this.#shutdown ??= this.watched(this.connection.shutdown)
  }
}

/** @internal */
export const withIdleTimeout = (
  connection: TlsConnection,
  timeout: Duration.Duration
): Effect.Effect<TlsConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!Duration.isFinite(timeout)) return connection
    const clock = yield* Effect.clock
    const millis = Duration.toMillis(timeout)
    const idle = new IdleDeadline(connection, clock, millis)
    const timer = millis <= deadline.MAX_TIMER_MILLIS ? deadline.liveTimer(clock) : undefined
    if (timer !== undefined) {
      // Under the live clock: a timer re-armed while there is activity, no fiber.
      const runtime = yield* deadline.connectionRuntime
      const scope = yield* Effect.scope
      let cancel: (() => void) | undefined
      const check = () => {
        const wait = idle.left()
        cancel = wait > 0 ? timer(check, wait) : undefined
        if (wait <= 0) Runtime.runFork(runtime)(idle.expire)
      }
      cancel = timer(check, millis)
      yield* Scope.addFinalizer(scope, Effect.sync(() => cancel?.()))
    } else {
      // Waits until the deadline; activity in the meantime moves it.
      yield* Effect.forkScoped(
        Effect.gen(function*() {
          for (let wait = idle.left(); wait > 0; wait = idle.left()) yield* Effect.sleep(Duration.millis(wait))
          yield* idle.expire
        })
      )
    }
    const driven = lifecycle(connection)
    if (driven !== undefined) {
      driven.completed = () => idle.touch()
      return connection
    }
    return withStreams({
      info: connection.info,
      remoteAddress: connection.remoteAddress,
      abort: connection.abort,
      exportKeyingMaterial: connection.exportKeyingMaterial,
      // Built now: a read is the hot path, and takes no extra step.
      read: idle.read,
      write: (data) => idle.write(data),
      shutdown: Effect.suspend(() => idle.shutdown)
    })
  })
