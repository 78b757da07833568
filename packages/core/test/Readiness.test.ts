/**
 * Readiness: the one waiting primitive of effect-tls. A wait checks its
 * condition and registers in one step, so no signal is ever lost.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber } from "effect"
import * as Readiness from "../src/Readiness.js"

describe("Readiness", () => {
  it.effect("a condition that already holds completes at once, without any signal", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      yield* r.until(() => true)
    }))

  it.effect("a waiter wakes when the condition holds and a signal comes", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      let ready = false
      const waiter = yield* Effect.fork(r.until(() => ready))
      yield* Effect.yieldNow()
      expect(waiter.unsafePoll()).toBeNull()
      ready = true
      r.signal()
      yield* Fiber.join(waiter)
    }))

  it.live("a signal raised while the condition is being checked is not lost", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      let checks = 0
      // The event fires between the check and the wait: here, inside the check.
      const condition = () => {
        checks++
        if (checks === 1) {
          r.signal()
          return false
        }
        return true
      }
      const exit = yield* Effect.exit(Effect.timeout(r.until(condition), "1 second"))
      expect(Exit.isSuccess(exit)).toBe(true)
      expect(checks).toBe(2)
    }))

  it.effect("a signal wakes every waiter, each for its own condition", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      let level = 0
      const waiters = yield* Effect.forEach([1, 2, 3], (n) => Effect.fork(r.until(() => level >= n)))
      for (let n = 1; n <= 3; n++) {
        yield* Effect.yieldNow()
        level = n
        r.signal()
        yield* Fiber.join(waiters[n - 1]!)
      }
    }))

  it.effect("a waiter that still waits after a signal is woken by the next one", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      let count = 0
      const waiter = yield* Effect.fork(r.until(() => count >= 2))
      yield* Effect.yieldNow()
      count = 1
      r.signal()
      yield* Effect.yieldNow()
      expect(waiter.unsafePoll()).toBeNull()
      count = 2
      r.signal()
      yield* Fiber.join(waiter)
    }))

  it.effect("interrupting one waiter leaves the others waiting and wakeable", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      let ready = false
      const a = yield* Effect.fork(r.until(() => ready))
      const b = yield* Effect.fork(r.until(() => ready))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(a)
      ready = true
      r.signal()
      yield* Fiber.join(b)
    }))

  it.effect("a waiter interrupted before another comes does not keep the next signal from it", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      let ready = false
      const a = yield* Effect.fork(r.until(() => ready))
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(a)
      const b = yield* Effect.fork(r.until(() => ready))
      yield* Effect.yieldNow()
      ready = true
      r.signal()
      yield* Fiber.join(b)
    }))

  it.effect("interrupted waits do not pile up while no signal comes: at most one stays registered", () =>
    Effect.gen(function*() {
      const r = Readiness.make()
      // What the Readiness holds on to (read through its private field: the
      // bound is the point of this test).
      const registered = () => {
        const waiters = (r as unknown as { waiters: unknown }).waiters
        return waiters === undefined ? 0 : Array.isArray(waiters) ? waiters.length : 1
      }
      for (let i = 0; i < 1000; i++) {
        const waiter = yield* Effect.fork(r.until(() => false))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(waiter)
      }
      expect(registered()).toBeLessThanOrEqual(1)
      r.signal()
      expect(registered()).toBe(0)
    }))
})
