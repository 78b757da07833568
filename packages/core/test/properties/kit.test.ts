/**
 * The test kit itself: faulty pipes cut, delay (on the TestClock), end,
 * reset and stall as documented; engines count what the driver does.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, TestClock } from "effect"
import * as Testing from "../../src/testing.js"
import { TlsTransportError } from "../../src/TlsError.js"

const bytes = (...xs: Array<number>) => Uint8Array.from(xs)

describe("Testing.makeFaultyPair", () => {
  it.scoped("cuts writes into pieces of the given sizes, one piece per read, cycling across writes", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Testing.makeFaultyPair({ aToB: { chunkSizes: [1, 2] } })
      yield* a.write(bytes(1, 2, 3, 4))
      yield* a.write(bytes(5, 6))
      const reads = yield* Effect.forEach([1, 2, 3, 4], () => b.read)
      expect(reads).toEqual([bytes(1), bytes(2, 3), bytes(4), bytes(5, 6)].map(Option.some))
      expect(b.stats.reads).toBe(4)
      expect(a.stats.bytesWritten).toBe(6)
    }))

  it.scoped("delays pieces on the TestClock, in order", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Testing.makeFaultyPair({ aToB: { chunkSizes: [1], delays: ["100 millis", 0] } })
      yield* a.write(bytes(1, 2))
      const first = yield* Effect.fork(b.read)
      yield* TestClock.adjust("99 millis")
      expect(first.unsafePoll()).toBeNull()
      yield* TestClock.adjust("1 millis")
      expect(yield* Fiber.join(first)).toEqual(Option.some(bytes(1)))
      // The second piece has no delay of its own but never overtakes the first.
      expect(yield* b.read).toEqual(Option.some(bytes(2)))
    }))

  it.scoped("ends, resets or stalls after byte k", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Testing.makeFaultyPair({ aToB: { endAfter: 3 }, bToA: { resetAfter: 1 } })
      yield* a.write(bytes(1, 2, 3, 4, 5))
      expect(yield* b.read).toEqual(Option.some(bytes(1, 2, 3)))
      expect(yield* b.read).toEqual(Option.none())
      yield* b.write(bytes(9, 9))
      expect(yield* a.read).toEqual(Option.some(bytes(9)))
      expect(yield* Effect.flip(a.read)).toEqual(new TlsTransportError({ reason: "Reset", code: "ECONNRESET" }))

      const [c, d] = yield* Testing.makeFaultyPair({ aToB: { stallAfter: 0 } })
      yield* c.write(bytes(1))
      const stalled = yield* Testing.runVirtual(d.read)
      expect(stalled).toEqual(Option.none())
    }))

  it.scoped("close releases both directions of that side", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Testing.makeFaultyPair()
      yield* a.close
      expect(a.stats.closed).toBe(true)
      expect(yield* b.read).toEqual(Option.none())
      expect(Exit.isFailure(yield* Effect.exit(b.write(bytes(1))))).toBe(true)
    }))
})

describe("Testing engines", () => {
  it.scoped("a scripted engine replays its script and counts the driver's calls", () =>
    Effect.gen(function*() {
      const { engine, stats } = Testing.scriptedEngine({
        handshakeRounds: 1,
        reads: [Testing.Step.plaintext("hi"), Testing.Step.wantRead, Testing.Step.alert("bad_record_mac")]
      })
      const [ours, peer] = yield* Testing.makeFaultyPair()
      yield* Effect.forkScoped(Testing.answerFlights(peer, 1))
      const conn = yield* Testing.connect(engine, ours)
      expect(yield* conn.read).toEqual(Option.some(new TextEncoder().encode("hi")))
      const next = yield* Effect.fork(conn.read)
      yield* peer.write(bytes(0))
      expect(yield* Effect.flip(Fiber.join(next))).toMatchObject({ _tag: "TlsAlertError", alert: "bad_record_mac" })
      expect(stats.wantReads).toBe(2)
      expect(stats.feeds).toBe(2)
      expect(stats.retriesWithoutInput).toBe(0)
    }))

  it.scoped("framed engines complete a handshake of k rounds and reject with an alert", () =>
    Effect.gen(function*() {
      const client = Testing.framedEngine({ role: "client", handshakeRounds: 3 })
      const server = Testing.framedEngine({ role: "server", handshakeRounds: 3, rejectAtRound: 2 })
      const [ct, st] = yield* Testing.makeFaultyPair()
      const [c, s] = yield* Effect.all([
        Effect.flip(Testing.connect(client.engine, ct)),
        Effect.flip(Testing.connect(server.engine, st))
      ], { concurrency: 2 })
      expect(c).toMatchObject({ _tag: "TlsAlertError", alert: "handshake_failure", direction: "received" })
      expect(s).toMatchObject({ _tag: "TlsAlertError", alert: "handshake_failure", direction: "sent" })
      expect(client.stats.destroyed && server.stats.destroyed).toBe(true)
    }))
})
