/**
 * A named event that fibers wait for without losing wake-ups: "bytes
 * arrived", "the buffer drained", "the engine produced output".
 *
 * Every wait in effect-tls goes through this one primitive. It is a thin
 * layer over Effect's `Latch`, which keeps its state: `signal` opens the
 * latch (synchronously, so a runtime's event handler may call it), and
 * `until(condition)` closes the latch and checks the condition in one
 * synchronous step, then waits on the latch. An event that happens after
 * the check opens the latch, so the waiter wakes up and checks again; an
 * event that happened before the check is seen by the check itself. There
 * is no window between "check" and "register" in which a signal is lost.
 *
 * @example
 * ```ts
 * import * as Readiness from "@effect-tls/core/Readiness"
 *
 * const readable = Readiness.make()
 * socket.on("readable", () => readable.signal())
 * const waitForBytes = readable.until(() => socket.readableLength > 0 || socket.destroyed)
 * ```
 *
 * @since 0.2.0
 */
import * as Effect from "effect/Effect"

/**
 * @since 0.2.0
 * @category models
 */
export interface Readiness {
  /**
   * The event happened: wake every waiter so it checks its condition again.
   * Synchronous. A method: to hand it to an event emitter, wrap it
   * (`() => readiness.signal()`).
   */
  signal(): void
  /**
   * Completes once `condition()` holds; checks it now and after every
   * signal. Interrupting the wait leaves nothing behind.
   */
  until(condition: () => boolean): Effect.Effect<void>
}

/** A registered waiter's `resume`: `held` true ends the wait, false means "check again". */
type Wake = (held: Effect.Effect<boolean>) => void
const held = Effect.succeed(true)
const signalled = Effect.succeed(false)

/**
 * One small object per event, its methods shared: a connection holds
 * several of these for as long as it lives.
 */
class ReadinessImpl implements Readiness {
  /** Who waits now (their `resume`): one waiter alone, or several. Cleared by each signal. */
  private waiters: Wake | Array<Wake> | undefined = undefined
  /** Signals so far: a signal raised while a condition is checked is seen by its waiter. */
  private signals = 0

  signal(): void {
    this.signals++
    const waiters = this.waiters
    if (waiters === undefined) return
    // Taken first: a woken waiter that registers again lands in a new set.
    this.waiters = undefined
    if (typeof waiters === "function") waiters(signalled)
    else for (const wake of waiters) wake(signalled)
  }

  private register(wake: Wake): void {
    const waiters = this.waiters
    if (waiters === undefined) this.waiters = wake
    else if (typeof waiters === "function") this.waiters = [waiters, wake]
    else waiters.push(wake)
  }

  private unregister(wake: Wake): void {
    const waiters = this.waiters
    if (waiters === wake) this.waiters = undefined
    else if (Array.isArray(waiters)) {
      const i = waiters.indexOf(wake)
      if (i >= 0) waiters.splice(i, 1)
    }
  }

  until(condition: () => boolean): Effect.Effect<void> {
    // Built once per `until`: a wait is a check, then (only when it fails)
    // a registration that checks again in the same synchronous step.
    const register = (resume: Wake) => {
      const seen = this.signals
      // A signal during the check (the condition itself may raise one) counts as one after it.
      if (condition()) return resume(held)
      if (this.signals !== seen) return resume(signalled)
      this.register(resume)
      // Interrupted while registered: leave nothing behind.
      return Effect.sync(() => this.unregister(resume))
    }
    const loop: Effect.Effect<void> = Effect.suspend(() => (condition() ? Effect.void : wait))
    const wait: Effect.Effect<void> = Effect.flatMap(Effect.async<boolean>(register), (ok) => (ok ? Effect.void : loop))
    return loop
  }
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const make = (): Readiness => new ReadinessImpl()
