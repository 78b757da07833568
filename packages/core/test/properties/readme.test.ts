/**
 * The README's example of testing a retry policy with the test kit, kept
 * here so that it is type-checked and run (/tmp/readme-issue6.md has the
 * same code with package imports).
 */
import { expect, it } from "@effect/vitest"
import { Effect, Exit, Option, TestClock } from "effect"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Testing from "../../src/testing.js"
import { TlsTimeoutError } from "../../src/TlsError.js"

it.effect("a peer that answers every 600 ms gets 2 seconds, then TlsTimeoutError", () =>
  Effect.gen(function*() {
    const { engine, stats } = Testing.scriptedEngine({ handshakeRounds: 5 })
    const [ours, peer] = yield* Testing.makeFaultyPair({ bToA: { delays: ["600 millis"] } })
    yield* Effect.forkScoped(Testing.answerFlights(peer))
    const policy = RetryPolicy.within("2 seconds")
    const exit = yield* Testing.runVirtual(Effect.scoped(Testing.connect(engine, ours, { retryPolicy: policy })))
    // Wants at 0, 600, 1200, 1800 ms go on; the one at 2400 ms ends it.
    expect(exit).toEqual(Option.some(Exit.fail(new TlsTimeoutError({ phase: "handshake", millis: 2000 }))))
    expect(yield* TestClock.currentTimeMillis).toBe(2400)
    expect(stats.wantReads).toBe(5)
    expect(stats.retriesWithoutInput).toBe(0)
  }).pipe(Effect.scoped))

it.effect.prop(
  "recurs(n) completes a handshake of k round trips iff k <= n, whatever the delays",
  { k: Testing.arbitraries.rounds, n: Testing.arbitraries.rounds, delays: Testing.arbitraries.delays },
  ({ delays, k, n }) =>
    Effect.gen(function*() {
      const { engine } = Testing.scriptedEngine({ handshakeRounds: k })
      const [ours, peer] = yield* Testing.makeFaultyPair({ bToA: { delays } })
      yield* Effect.forkScoped(Testing.answerFlights(peer))
      const exit = yield* Testing.runVirtual(
        Effect.scoped(Testing.connect(engine, ours, { retryPolicy: RetryPolicy.recurs(n) }))
      )
      expect(Option.map(exit, Exit.isSuccess)).toEqual(Option.some(k <= n))
    }).pipe(Effect.scoped),
  { fastCheck: { numRuns: 200 } }
)
