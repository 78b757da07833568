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

/**
 * One small object per event, its methods shared: a connection holds
 * several of these for as long as it lives.
 */
class ReadinessImpl implements Readiness {
  // Made on the first wait: a signal before any wait has nobody to wake,
  // and every wait checks its condition first.
  private latch: Effect.Latch | undefined = undefined

  signal(): void {
    this.latch?.unsafeOpen()
  }

  until(condition: () => boolean): Effect.Effect<void> {
    const loop: Effect.Effect<void> = Effect.suspend(() => {
      const latch = this.latch ??= Effect.unsafeMakeLatch(false)
      // Closed before the check, in the same synchronous step: a signal
      // from here on (even one raised while the condition is evaluated)
      // opens it again, and the await below returns at once.
      latch.unsafeClose()
      if (condition()) return Effect.void
      return Effect.zipRight(latch.await, loop)
    })
    return loop
  }
}

/**
 * @since 0.2.0
 * @category constructors
 */
export const make = (): Readiness => new ReadinessImpl()
