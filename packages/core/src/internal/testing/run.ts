/**
 * Running drivers over test engines, on the TestClock.
 * @internal
 */
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Supervisor from "effect/Supervisor"
import * as TestClock from "effect/TestClock"
import type { TestServices } from "effect/TestServices"
import type { ConnectOptions, VirtualOptions } from "../../testing.js"
import * as TlsConnection from "../../TlsConnection.js"
import type { TlsEngine } from "../../TlsEngine.js"
import type { TlsError, TlsWant } from "../../TlsError.js"
import * as TlsOptions from "../../TlsOptions.js"
import type { Transport } from "../../Transport.js"

/** @internal */
export const connect = (
  engine: TlsEngine,
  transport: Transport,
  options: ConnectOptions = {}
): Effect.Effect<TlsConnection.TlsConnection, TlsError | TlsWant, Scope.Scope> =>
  Effect.flatMap(
    TlsOptions.decodeUpgrade({
      role: "client",
      verify: false,
      retryPolicy: options.retryPolicy,
      handshakeTimeout: options.handshakeTimeout ?? "1 hour",
      closeGrace: options.closeGrace
    }),
    (resolved) => TlsConnection.make(engine, transport, resolved)
  )

/** One turn of the host's event loop (setImmediate where there is one). */
const macrotask: Effect.Effect<void> = Effect.async<void>((resume) => {
  const host = globalThis as unknown as {
    readonly setImmediate?: (f: () => void) => unknown
    readonly setTimeout: (f: () => void, ms: number) => unknown
  }
  const wake = () => resume(Effect.void)
  if (host.setImmediate !== undefined) host.setImmediate(wake)
  else host.setTimeout(wake, 0)
})

/**
 * The TestClock in use, with a cheaper wait before each move: a few turns of
 * the event loop instead of TestClock's timer-based polling (3 timers, each
 * at least 1 ms on Node). Sleeps and time are shared with the original.
 */
const fastClock = (clock: TestClock.TestClock): TestClock.TestClock => {
  const fast = Object.create(clock) as TestClock.TestClock & { awaitSuspended: () => Effect.Effect<void> }
  fast.awaitSuspended = () => Effect.repeatN(macrotask, 1)
  return fast
}

/**
 * TestClock.adjust(0) rounds granted to a program with no sleep pending
 * before it is declared stuck.
 */
const IDLE_ROUNDS = 2

/** @internal */
export const runVirtual = <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options: VirtualOptions = {}
): Effect.Effect<Option.Option<Exit.Exit<A, E>>, never, R | TestServices> =>
  Effect.gen(function*() {
    const maxSteps = options.maxSteps ?? 10_000
    const clock = fastClock(yield* TestClock.testClock())
    const fiber = yield* Effect.fork(Effect.withClock(self, clock))
    /** Move the clock from sleep to sleep until `fiber` is done; false if it is stuck. */
    const drive = Effect.gen(function*() {
      let idle = 0
      for (let step = 0; step < maxSteps; step++) {
        yield* clock.adjust(0)
        if (Option.isSome(yield* Fiber.poll(fiber))) return true
        const now = yield* clock.currentTimeMillis
        const sleeps = Chunk.filter(yield* clock.sleeps, (t) => t > now)
        if (Chunk.isEmpty(sleeps)) {
          // Nothing scheduled: give every fiber a chance (with TestClock's own,
          // thorough wait); if still nothing happens, it is stuck.
          if (idle++ >= IDLE_ROUNDS) return false
          yield* TestClock.adjust(0)
          continue
        }
        idle = 0
        const next = Chunk.reduce(sleeps, Number.POSITIVE_INFINITY, (a, b) => Math.min(a, b))
        yield* clock.adjust(next - now)
      }
      return false
    })
    if (yield* drive) return yield* Fiber.poll(fiber)
    // Stuck: interrupt it, and keep time moving so that its finalizers
    // (close_notify with a grace period, say) can run to their end.
    yield* Fiber.interruptFork(fiber)
    yield* drive
    return Option.none()
  })

/** @internal */
export const trackFibers = <A, E, R>(
  self: Effect.Effect<A, E, R>
): Effect.Effect<readonly [Exit.Exit<A, E>, ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>], never, R> =>
  Effect.gen(function*() {
    const supervisor = yield* Supervisor.track
    const exit = yield* Effect.exit(Effect.supervised(self, supervisor))
    const fibers = yield* supervisor.value
    const running = fibers.filter((f) => f.unsafePoll() === null)
    return [exit, running] as const
  })
