/**
 * A server's limits that live in core, on the TestClock with in-memory
 * transports and scripted engines: the idle timeout of established
 * connections, the close grace, and the abortive close.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Fiber, Option, TestClock } from "effect"
import { withIdleTimeout } from "../src/internal/idle.js"
import * as Testing from "../src/testing.js"
import type { TlsConnection } from "../src/TlsConnection.js"
import { TlsTimeoutError } from "../src/TlsError.js"
import * as Transport from "../src/Transport.js"

const text = (s: string) => new TextEncoder().encode(s)

/** A connection over a memory pair whose engine passes plaintext through; `peer` plays the other side. */
const connected = (options: Testing.ConnectOptions = {}, reads: ReadonlyArray<Testing.ScriptStep> = []) =>
  Effect.gen(function*() {
    const { engine } = Testing.scriptedEngine({ role: "server", reads })
    const [ours, peer] = yield* Transport.makeMemoryPair()
    const connection = yield* Testing.connect(engine, ours, options)
    return { connection, peer }
  })

describe("idle timeout", () => {
  it.scoped("a read that sees nothing for the timeout fails with TlsTimeoutError idle, and so does every later call", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* connected()
      const idle = yield* withIdleTimeout(connection, Duration.seconds(10))
      const reading = yield* Effect.fork(Effect.exit(idle.read))
      yield* TestClock.adjust("9999 millis")
      expect(Option.isNone(yield* Fiber.poll(reading))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const expected = new TlsTimeoutError({ phase: "idle", millis: 10_000 })
      expect(yield* Fiber.join(reading)).toEqual(Exit.fail(expected))
      expect(yield* Effect.flip(idle.write("late"))).toEqual(expected)
      expect(yield* Effect.flip(idle.read)).toEqual(expected)
      // The connection was closed abortively: the peer sees its end.
      expect(yield* peer.read).toEqual(Option.none())
    }))

  it.scoped("every completed read or write moves the deadline", () =>
    Effect.gen(function*() {
      const steps = [Testing.Step.wantRead, Testing.Step.plaintext("a"), Testing.Step.wantRead, Testing.Step.plaintext("b")]
      const { connection, peer } = yield* connected({}, steps)
      const idle: TlsConnection = yield* withIdleTimeout(connection, Duration.seconds(10))
      yield* TestClock.adjust("8 seconds")
      yield* idle.write("ping")
      yield* TestClock.adjust("8 seconds")
      yield* peer.write(text("x"))
      expect(yield* idle.read).toEqual(Option.some(text("a")))
      yield* TestClock.adjust("8 seconds")
      yield* peer.write(text("y"))
      expect(yield* idle.read).toEqual(Option.some(text("b")))
      // 24 s in all, never 10 s without a completed call.
      const reading = yield* Effect.fork(Effect.exit(idle.read))
      yield* TestClock.adjust("10 seconds")
      expect(yield* Fiber.join(reading)).toEqual(Exit.fail(new TlsTimeoutError({ phase: "idle", millis: 10_000 })))
    }))

  // Under Effect's live clock the deadline is a plain timer, re-armed on
  // activity, instead of a sleeping fiber: the same behaviour, in real time.
  it.live("under the live clock, an idle connection fails with TlsTimeoutError idle and is closed", () =>
    Effect.scoped(Effect.gen(function*() {
      const { connection, peer } = yield* connected()
      const idle = yield* withIdleTimeout(connection, Duration.millis(30))
      const expected = new TlsTimeoutError({ phase: "idle", millis: 30 })
      expect(yield* Effect.exit(idle.read)).toEqual(Exit.fail(expected))
      expect(yield* Effect.flip(idle.write("late"))).toEqual(expected)
      expect(yield* peer.read).toEqual(Option.none())
    })))

  it.live("under the live clock, activity moves the deadline", () =>
    Effect.scoped(Effect.gen(function*() {
      const steps = Array.from({ length: 4 }, (_, i) => [Testing.Step.wantRead, Testing.Step.plaintext(`${i}`)]).flat()
      const { connection, peer } = yield* connected({}, steps)
      const idle: TlsConnection = yield* withIdleTimeout(connection, Duration.millis(1000))
      // 4 x 400 ms = 1.6 s in all, never 1 s without a completed read (the
      // margin, 600 ms, is for a machine busy with other tests).
      for (let i = 0; i < 4; i++) {
        yield* Effect.sleep(Duration.millis(400))
        yield* peer.write(text("x"))
        expect(yield* idle.read).toEqual(Option.some(text(`${i}`)))
      }
    })))

  it.scoped("an idle-bounded connection spread into a wrapper keeps every operation", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* connected({}, [Testing.Step.wantRead, Testing.Step.plaintext("in")])
      const idle = yield* withIdleTimeout(connection, Duration.seconds(10))
      const wrapper: TlsConnection = { ...idle, abort: idle.abort }
      for (const member of ["info", "read", "write", "shutdown", "abort", "stream", "sink"] as const) {
        expect(wrapper[member], member).toBeDefined()
      }
      yield* peer.write(text("x"))
      expect(yield* wrapper.read).toEqual(Option.some(text("in")))
    }))

  it.live("under the live clock, closing the scope stops the timer: nothing fires later", () =>
    Effect.gen(function*() {
      let aborted = false
      yield* Effect.scoped(Effect.gen(function*() {
        const { connection } = yield* connected()
        yield* withIdleTimeout({
          ...connection,
          abort: Effect.sync(() => {
            aborted = true
          })
        }, Duration.millis(20))
      }))
      yield* Effect.sleep(Duration.millis(60))
      expect(aborted).toBe(false)
    }))

  it.scoped("a write waiting for room when the deadline passes fails with TlsTimeoutError idle, and so does shutdown", () =>
    Effect.gen(function*() {
      const { engine } = Testing.scriptedEngine({ role: "server", outgoingBound: 1024 })
      // The transport takes one batch and never another (the peer does not read).
      const [ours] = yield* Testing.makeFaultyPair({ capacity: 1 })
      const connection = yield* Testing.connect(engine, ours)
      const idle = yield* withIdleTimeout(connection, Duration.seconds(10))
      yield* idle.write("fills the pipe")
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      // The driver holds the first of these until the transport takes it,
      // the engine the second: more than its bound, so the next write waits.
      yield* idle.write(new Uint8Array(2048))
      yield* idle.write(new Uint8Array(2048))
      const writing = yield* Effect.fork(Effect.exit(idle.write("waits")))
      yield* Effect.repeatN(Effect.yieldNow(), 10)
      yield* TestClock.adjust("9999 millis")
      expect(Option.isNone(yield* Fiber.poll(writing))).toBe(true)
      yield* TestClock.adjust("1 millis")
      const expected = new TlsTimeoutError({ phase: "idle", millis: 10_000 })
      expect(yield* Fiber.join(writing)).toEqual(Exit.fail(expected))
      expect(yield* Effect.flip(idle.shutdown)).toEqual(expected)
    }))

  it.scoped("a connection the driver did not make (a wrapper) is bounded the same way, through its own abort", () =>
    Effect.gen(function*() {
      const { connection, peer } = yield* connected()
      let aborted = 0
      const wrapper: TlsConnection = {
        ...connection,
        abort: Effect.zipRight(Effect.sync(() => void aborted++), connection.abort)
      }
      const idle = yield* withIdleTimeout(wrapper, Duration.seconds(10))
      expect(idle).not.toBe(wrapper)
      const reading = yield* Effect.fork(Effect.exit(idle.read))
      yield* TestClock.adjust("10 seconds")
      const expected = new TlsTimeoutError({ phase: "idle", millis: 10_000 })
      expect(yield* Fiber.join(reading)).toEqual(Exit.fail(expected))
      expect(yield* Effect.flip(idle.write("late"))).toEqual(expected)
      expect(aborted).toBe(1)
      expect(yield* peer.read).toEqual(Option.none())
    }))

  it.scoped("a connection the driver made is bounded without a wrapper: the same object, nothing added per call", () =>
    Effect.gen(function*() {
      const { connection } = yield* connected()
      expect(yield* withIdleTimeout(connection, Duration.seconds(10))).toBe(connection)
    }))

  it.scoped("Duration.infinity turns it off", () =>
    Effect.gen(function*() {
      const { connection } = yield* connected()
      expect(yield* withIdleTimeout(connection, Duration.infinity)).toBe(connection)
    }))
})

describe("closing", () => {
  it.effect("the close grace is the connection's closeGrace: a peer that takes nothing is given up on after it", () =>
    Effect.gen(function*() {
      const { engine } = Testing.scriptedEngine({ role: "server" })
      // The transport never accepts a write (the peer does not read).
      const [ours] = yield* Testing.makeFaultyPair({ capacity: 1 })
      const closing = yield* Effect.fork(
        Effect.scoped(
          Effect.gen(function*() {
            const connection = yield* Testing.connect(engine, ours, { closeGrace: "2 seconds" })
            // The first write fills the pipe; the second is never taken.
            yield* connection.write("fills the pipe")
            // (the flusher hands each batch to the transport in its own turn)
            yield* Effect.repeatN(Effect.yieldNow(), 10)
            yield* connection.write("never taken")
          })
        )
      )
      yield* TestClock.adjust("1999 millis")
      expect(Option.isNone(yield* Fiber.poll(closing))).toBe(true)
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(closing)).toBeUndefined()
    }).pipe(Effect.scoped))

  it.scoped("abort closes at once: no close_notify, no wait, later calls fail with TlsClosedError", () =>
    Effect.gen(function*() {
      const { engine } = Testing.scriptedEngine({ role: "server" })
      const [ours] = yield* Testing.makeFaultyPair({ capacity: 1 })
      const connection = yield* Testing.connect(engine, ours)
      yield* Effect.fork(connection.write("dropped"))
      yield* Effect.yieldNow()
      yield* connection.abort
      expect(yield* Effect.flip(connection.read)).toMatchObject({ _tag: "TlsClosedError" })
      expect(yield* Effect.flip(connection.write("x"))).toMatchObject({ _tag: "TlsClosedError" })
    }))
})
