/**
 * A named event that fibers wait for without losing wake-ups: "bytes
 * arrived", "the buffer drained", "the engine produced output".
 *
 * Every wait in effect-tls goes through this one primitive. `signal` is
 * synchronous (a runtime's event handler may call it) and wakes every
 * waiter; `until(condition)` checks the condition and, when it does not
 * hold, registers the waiter in the same synchronous step. An event that
 * happens after the check wakes the waiter, which checks again; an event
 * that happened before the check is seen by the check itself. There is no
 * window between "check" and "register" in which a signal is lost.
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
   * signal. An interrupted wait is gone by the next signal at the latest
   * (a Readiness keeps at most one such waiter: see `until`'s body).
   */
  until(condition: () => boolean): Effect.Effect<void>
}

/** A registered waiter: wakes its fiber, which checks its condition again. */
type Wake = () => void

/**
 * One small object per event, its methods shared: a connection holds
 * several of these for as long as it lives.
 */
class ReadinessImpl implements Readiness {
  /** Who waits now: one waiter alone, or several. Cleared by each signal. */
  private waiters: Wake | Array<Wake> | undefined = undefined
  /** Signals so far: a signal raised while a condition is checked is seen by its waiter. */
  private signals = 0

  signal(): void {
    this.signals++
    const waiters = this.waiters
    if (waiters === undefined) return
    // Taken first: a woken waiter that registers again lands in a new set.
    this.waiters = undefined
    if (typeof waiters === "function") waiters()
    else for (const wake of waiters) wake()
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
    // a registration that checks again in the same synchronous step. A
    // signal resumes the fiber with `loop`, which checks once more.
    const loop: Effect.Effect<void> = Effect.suspend(() => (condition() ? Effect.void : wait))
    const wait: Effect.Effect<void> = Effect.async<void>((resume) => {
      const seen = this.signals
      // A signal during the check (the condition itself may raise one) counts as one after it.
      if (condition()) return resume(Effect.void)
      if (this.signals !== seen) return resume(loop)
      const wake: Wake = () => resume(loop)
      // The one waiter while nobody else waits (the common case) is
      // registered bare: no canceler, so Effect adds no interruption
      // handling to the wait. Interrupted, it stays registered until the
      // next signal, which then resumes nobody (a fiber is resumed once),
      // and only this one slot can hold such a waiter: every waiter that
      // comes while it is taken unregisters itself when interrupted.
      if (this.waiters === undefined) {
        this.waiters = wake
        return
      }
      this.register(wake)
      return Effect.sync(() => this.unregister(wake))
    })
    return loop
  }
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const make = (): Readiness => new ReadinessImpl()
