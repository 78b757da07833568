/**
 * The time limit of one step (connect, handshake, the close grace): the
 * step's result when it completes in time, else the timeout, with the step
 * interrupted and its finalizers run first. Under the live clock it is one
 * fiber and a timer; under any other clock it is that clock's time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, TestClock } from "effect"
import * as deadline from "../src/internal/deadline.js"

const timedOut = () => "timed out" as const

describe("deadline (live clock)", () => {
  it.live("a step that completes in time gives its result", () =>
    Effect.gen(function*() {
      const result = yield* deadline.timeoutFail(Effect.succeed(42), Duration.seconds(30), timedOut)
      expect(result).toBe(42)
    }))

  it.live("a step that fails in time gives its failure", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(deadline.timeoutFail(Effect.fail("boom"), Duration.seconds(30), timedOut))
      expect(exit).toStrictEqual(Exit.fail("boom"))
    }))

  it.live("a step past its deadline fails with the timeout after its finalizers ran", () =>
    Effect.gen(function*() {
      let released = false
      const step = Effect.never.pipe(Effect.ensuring(Effect.sync(() => {
        released = true
      })))
      const exit = yield* Effect.exit(deadline.timeoutFail(step, Duration.millis(5), timedOut))
      expect(exit).toStrictEqual(Exit.fail("timed out"))
      expect(released).toBe(true)
    }))

  it.live("within gives the fallback's value when the deadline passes", () =>
    Effect.gen(function*() {
      const result = yield* deadline.within(Effect.never, Duration.millis(5), () => Effect.succeed("fallback"))
      expect(result).toBe("fallback")
    }))

  it.live("interrupting the waiter interrupts the step", () =>
    Effect.gen(function*() {
      let released = false
      const started = yield* Effect.makeLatch(false)
      const step = Effect.zipRight(started.open, Effect.never).pipe(Effect.ensuring(Effect.sync(() => {
        released = true
      })))
      const waiter = yield* Effect.fork(deadline.timeoutFail(step, Duration.seconds(30), timedOut))
      yield* started.await
      yield* Fiber.interrupt(waiter)
      expect(released).toBe(true)
    }))

  it.live("an infinite deadline never fires", () =>
    Effect.gen(function*() {
      const result = yield* deadline.timeoutFail(Effect.succeed("done"), Duration.infinity, timedOut)
      expect(result).toBe("done")
    }))
})

describe("deadline (TestClock)", () => {
  it.effect("time is the TestClock's: nothing fires until it is adjusted", () =>
    Effect.gen(function*() {
      const waiter = yield* Effect.fork(deadline.timeoutFail(Effect.never, Duration.seconds(10), timedOut))
      yield* TestClock.adjust(Duration.seconds(9))
      expect(waiter.unsafePoll()).toBeNull()
      yield* TestClock.adjust(Duration.seconds(1))
      const exit = yield* Fiber.await(waiter)
      expect(exit).toStrictEqual(Exit.fail("timed out"))
    }))
})
