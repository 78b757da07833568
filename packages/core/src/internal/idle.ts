/**
 * The idle timeout of a server's connections, kept outside the driver: a
 * connection on which no read or write completed for `timeout` fails every
 * pending and later call with `TlsTimeoutError` (phase `"idle"`) and is
 * closed abortively (an idle peer may not read a close_notify either).
 *
 * @internal
 */
import type * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import type { TlsConnection, TlsConnectionError } from "../TlsConnection.js"
import { TlsTimeoutError } from "../TlsError.js"

/** @internal */
export const withIdleTimeout = (
  connection: TlsConnection,
  timeout: Duration.Duration
): Effect.Effect<TlsConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    if (!Duration.isFinite(timeout)) return connection
    const millis = Duration.toMillis(timeout)
    const expired = yield* Deferred.make<never, TlsTimeoutError>()
    let last = yield* Clock.currentTimeMillis
    const touch = Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        last = now
      }))
    // Sleeps until the deadline; activity in the meantime moves it.
    yield* Effect.forkScoped(
      Effect.gen(function*() {
        for (;;) {
          const now = yield* Clock.currentTimeMillis
          if (now >= last + millis) break
          yield* Effect.sleep(Duration.millis(last + millis - now))
        }
        yield* Deferred.fail(expired, new TlsTimeoutError({ phase: "idle", millis }))
        yield* connection.abort
      })
    )
    /** `op`, unless the connection expired first (then, and from then on, the idle error). */
    const guarded = <A>(op: Effect.Effect<A, TlsConnectionError>): Effect.Effect<A, TlsConnectionError> =>
      Effect.flatMap(Deferred.poll(expired), (done) =>
        Option.isSome(done)
          ? Effect.flatten(done.value)
          : Effect.raceFirst(Effect.tap(op, () => touch), Deferred.await(expired)))
    const read = guarded(connection.read)
    const write = (data: Uint8Array | string) => guarded(connection.write(data))
    return {
      ...connection,
      read,
      write,
      shutdown: guarded(connection.shutdown),
      stream: Stream.repeatEffectOption(
        read.pipe(
          Effect.mapError(Option.some),
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(Option.none()),
            onSome: (chunk) => Effect.succeed(chunk)
          }))
        )
      ),
      sink: Sink.forEachChunk((chunk: Chunk.Chunk<Uint8Array>) =>
        Effect.forEach(chunk, (bytes) => write(bytes), { discard: true })
      )
    } satisfies TlsConnection
  })
