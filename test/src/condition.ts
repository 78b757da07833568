/** Waiting in tests for something observable to become true, without sleeps. */
import { Effect } from "effect"

export interface Condition {
  /** Call whenever the observed state may have changed. */
  readonly notify: () => void
  /** Completes once `check()` holds (checked now and on every notify). */
  readonly until: (check: () => boolean) => Effect.Effect<void>
}

export const makeCondition = (): Condition => {
  const waiters = new Set<() => void>()
  return {
    notify: () => {
      for (const w of [...waiters]) w()
    },
    until: (check) =>
      Effect.async<void>((resume) => {
        if (check()) return resume(Effect.void)
        const w = () => {
          if (check()) {
            waiters.delete(w)
            resume(Effect.void)
          }
        }
        waiters.add(w)
        return Effect.sync(() => waiters.delete(w))
      })
  }
}
