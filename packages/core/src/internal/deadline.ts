/**
 * Time limits for one step of a connection (connect, handshake, the close
 * grace), at the price of one fiber and one timer.
 *
 * `Effect.timeout` races two fibers (the effect and a sleeping one) and
 * interrupts the loser, which on a loopback handshake costs more than the
 * rest of the step's bookkeeping. Under Effect's own live clock the same
 * race needs only the effect's fiber and a plain timer: the caller waits for
 * whichever comes first, the fiber's exit or the timer, and interrupts the
 * fiber (waiting for it to stop) when the timer wins. Under any other clock
 * (the TestClock, a user's clock) it is `Effect.timeoutTo`, so that time
 * there means that clock's time.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"

// The host's timers (every JS runtime has them; core's tsconfig has no host types).
declare const setTimeout: (task: () => void, millis: number) => unknown
declare const clearTimeout: (handle: unknown) => void

/** Effect's live clock: its `sleep` is a plain `setTimeout`. */
const liveClock = Context.get(DefaultServices.liveServices, Clock.Clock)

/**
 * Longer than this, a JS timer fires at once; Effect's clock never fires instead.
 * @internal
 */
export const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * Under Effect's live clock, plain timers: `start(task, millis)` (at most
 * `MAX_TIMER_MILLIS`) returns its cancel. Under any other clock,
 * `undefined`: the caller then sleeps on that clock.
 * @internal
 */
export const liveTimer = (clock: Clock.Clock): ((task: () => void, millis: number) => () => void) | undefined =>
  clock === liveClock
    ? (task, millis) => {
      const handle = setTimeout(task, millis)
      return () => clearTimeout(handle)
    }
    : undefined

/**
 * `self`, or `onTimeout()` once `duration` passed without `self` completing
 * (`self` is interrupted first, and that interruption awaited).
 * @internal
 */
export const within = <A, E, R, B, E1>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => Effect.Effect<B, E1>
): Effect.Effect<A | B, E | E1, R> =>
  Effect.clockWith((clock) => {
    const start = liveTimer(clock)
    if (start === undefined) {
      return Effect.flatten(Effect.timeoutTo(self, {
        duration,
        onTimeout,
        onSuccess: (a): Effect.Effect<A | B, E1> => Effect.succeed(a)
      }))
    }
    const millis = Duration.toMillis(duration)
    if (millis > MAX_TIMER_MILLIS) return self
    return Effect.flatMap(Effect.fork(self), (fiber) =>
      Effect.async<A | B, E | E1>((resume) => {
        let settled = false
        const cancel = start(() => {
          if (settled) return
          settled = true
          resume(Effect.zipRight(Fiber.interrupt(fiber), onTimeout()))
        }, millis)
        fiber.addObserver((exit) => {
          if (settled) return
          settled = true
          cancel()
          resume(exit)
        })
        // The waiter was interrupted: so is the step.
        return Effect.suspend(() => {
          settled = true
          cancel()
          return Fiber.interrupt(fiber)
        })
      }))
  })

/**
 * `self`, or a failure with `onTimeout()` once `duration` passed.
 * @internal
 */
export const timeoutFail = <A, E, R, E1>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  onTimeout: () => E1
): Effect.Effect<A, E | E1, R> => within(self, duration, () => Effect.fail(onTimeout()))

/**
 * `self` under a deadline that costs no fiber, for a step whose resource
 * can be broken from outside (a connection's handshake): under Effect's
 * live clock a plain timer calls `expire()` once `duration` passed, which
 * must make `self` end soon (by breaking what it waits on), and `self`
 * then fails with `onTimeout()`, however it ended. The timer is cancelled
 * when `self` ends, or is interrupted. Under any other clock it is
 * `timeoutFail`.
 * @internal
 */
export const breakingAfter = <A, E, R, E1>(
  self: Effect.Effect<A, E, R>,
  duration: Duration.Duration,
  expire: () => void,
  onTimeout: () => E1
): Effect.Effect<A, E | E1, R> =>
  Effect.clockWith((clock) => {
    const start = liveTimer(clock)
    if (start === undefined) return timeoutFail(self, duration, onTimeout)
    const millis = Duration.toMillis(duration)
    if (millis > MAX_TIMER_MILLIS) return self
    return Effect.suspend(() => {
      let fired = false
      const cancel = start(() => {
        fired = true
        expire()
      }, millis)
      // After the timer fired, even a success (the last step raced it) is
      // the timeout: `expire` has broken what it would hand out.
      return Effect.onExit(
        Effect.matchCauseEffect(self, {
          onFailure: (cause): Effect.Effect<A, E | E1> => (fired ? Effect.fail(onTimeout()) : Effect.failCause(cause)),
          onSuccess: (a): Effect.Effect<A, E | E1> => (fired ? Effect.fail(onTimeout()) : Effect.succeed(a))
        }),
        () => Effect.sync(cancel)
      )
    })
  })

/** The caller's runtime without the span it runs in. */
const runtimeOutsideSpan: Effect.Effect<Runtime.Runtime<never>> = Effect.mapInputContext(
  Effect.runtime<never>(),
  Context.omit(Tracer.ParentSpan)
)

/** One runtime per connection scope (a runtime copies the context and the FiberRefs: about 1.5 KiB). */
const connectionRuntimes = new WeakMap<Scope.Scope, Runtime.Runtime<never>>()

/**
 * The caller's runtime, for work forked later from a callback (a timer, a
 * socket event), without the span it runs in: a connection keeps this for
 * as long as it lives, and a span it kept would keep its attributes and
 * its parents (a finished handshake's) alive with it. One per connection:
 * the parts of a connection that need one (the driver, the idle deadline,
 * the session listener) share the first one made in its scope.
 * @internal
 */
export const connectionRuntime: Effect.Effect<Runtime.Runtime<never>, never, Scope.Scope> = Effect.flatMap(
  Effect.scope,
  (scope) => {
    const made = connectionRuntimes.get(scope)
    if (made !== undefined) return Effect.succeed(made)
    return Effect.tap(runtimeOutsideSpan, (runtime) => {
      connectionRuntimes.set(scope, runtime)
    })
  }
)
