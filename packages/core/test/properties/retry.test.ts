/**
 * Properties of the driver's retry semantics, over the test kit's engines
 * and faulty transports, on the TestClock.
 *
 * What a "retry" is: after an operation of the engine answers a Want, the
 * driver asks the RetryPolicy (one `Schedule` step, input: the Want); if
 * the policy goes on, the driver does the I/O the Want asks for (WantRead:
 * flush, then read ONE transport chunk and feed it, or feed end of input;
 * WantWrite: flush) and calls the operation again. That second call is one
 * retry. `RetryPolicy.recurs(n)` allows n retries, i.e. n + 1 attempts: an
 * operation that answers a Want k times in a row before it succeeds
 * completes iff k <= n. When the policy stops, the Want it was given reaches
 * the caller (TlsTimeoutError for `within`), and no I/O is done for it.
 *
 * fast-check prints the seed and the counterexample of a failing property.
 */
import { describe, expect, it } from "@effect/vitest"
import { afterEach } from "vitest"
import { Cause, Clock, Effect, Exit, FastCheck as fc, Fiber, Option, Stream } from "effect"
import * as RetryPolicy from "../../src/RetryPolicy.js"
import * as Testing from "../../src/testing.js"
import type { TlsConnection } from "../../src/TlsConnection.js"
import { TlsTimeoutError, TlsTransportError, TlsUnexpectedEof, TlsWantRead } from "../../src/TlsError.js"

/**
 * Messages that say who wrote them: `[writer][index][length u16]` and the
 * payload. A stream of them can be cut back into whole messages, so order
 * and wholeness can be checked even when several fibers write at once.
 */
const tagged = (writer: number, index: number, payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + payload.length)
  out.set([writer, index, payload.length >> 8, payload.length & 0xff])
  out.set(payload, 4)
  return out
}

/** Cut a stream of tagged messages back into messages; `rest` is what follows the last whole one. */
const untag = (stream: Uint8Array) => {
  const messages: Array<{ writer: number; index: number; payload: Uint8Array }> = []
  let offset = 0
  while (offset + 4 <= stream.length) {
    const length = (stream[offset + 2]! << 8) | stream[offset + 3]!
    if (offset + 4 + length > stream.length) break
    messages.push({ writer: stream[offset]!, index: stream[offset + 1]!, payload: stream.subarray(offset + 4, offset + 4 + length) })
    offset += 4 + length
  }
  return { messages, rest: stream.subarray(offset) }
}

/**
 * What the peer of several writers must see: every message whole, each
 * writer's messages in the order it wrote them, nothing else.
 */
const expectWholeAndInOrder = (stream: Uint8Array, writers: ReadonlyArray<ReadonlyArray<Uint8Array>>) => {
  const { messages, rest } = untag(stream)
  expect(rest.length, "bytes that are not a whole message").toBe(0)
  writers.forEach((sent, w) => {
    const got = messages.filter((m) => m.writer === w)
    expect(got.map((m) => m.index), `writer ${w}: messages in order, each once`).toEqual(sent.map((_, i) => i))
    got.forEach((m, i) => expect(m.payload).toEqual(sent[i]))
  })
  expect(messages.length).toBe(writers.reduce((n, ms) => n + ms.length, 0))
}

const RUNS = Number(process.env.PROPERTY_RUNS ?? 200)
/**
 * One seed per run of this file, printed when a property fails or times
 * out; replay with PROPERTY_SEED=<seed> (and PROPERTY_PATH=<path> when
 * fast-check printed one).
 */
const SEED = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31))
const replay: { path?: string; endOnFailure?: boolean } = process.env.PROPERTY_SEED === undefined
  ? {}
  : { endOnFailure: true }
if (process.env.PROPERTY_PATH !== undefined) replay.path = process.env.PROPERTY_PATH
const params = { fastCheck: { numRuns: RUNS, verbose: 1, seed: SEED, ...replay } }
afterEach((context) => {
  if (context.task.result?.state === "fail") {
    console.log(`${context.task.name}: replay with PROPERTY_SEED=${SEED}`)
  }
})

const failureOf = <A, E>(exit: Exit.Exit<A, E>): Option.Option<E> =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

const concatBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.length
  }
  return out
}

/** Everything the peer sends until its close_notify. */
const readAll = (conn: TlsConnection) =>
  Effect.map(Stream.runCollect(conn.stream), (chunks) => concatBytes([...chunks]))

/**
 * Run `self` to completion on the TestClock: its exit and the virtual time
 * at which it completed. A program that cannot complete fails the test.
 */
const settle = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.map(
    Testing.runVirtual(Effect.zip(Effect.exit(self), Clock.currentTimeMillis)),
    (done) => {
      if (Option.isNone(done)) throw new Error("stuck: no fiber can make progress and no sleep is pending")
      return Exit.getOrElse(done.value, () => {
        throw new Error("unreachable")
      })
    }
  )

const writeAll = (conn: TlsConnection, messages: ReadonlyArray<Uint8Array>) =>
  Effect.zipRight(Effect.forEach(messages, (m) => conn.write(m), { discard: true }), conn.shutdown)

// Arbitraries ---------------------------------------------------------------

const delays = Testing.arbitraries.delays
const faults = Testing.arbitraries.faults(24)
const message = Testing.arbitraries.message(300)
const messages = fc.array(message, { maxLength: 6 })
const framedOptions = fc.record({
  maxWrite: fc.integer({ min: 1, max: 400 }),
  maxRecord: fc.integer({ min: 1, max: 200 }),
  outgoingBound: fc.integer({ min: 1, max: 600 })
})

/** A client and a server framed engine over a faulty pair, both connected. */
const framedPair = (
  setup: {
    readonly rounds: number
    readonly client: { maxWrite: number; maxRecord: number; outgoingBound: number }
    readonly server: { maxWrite: number; maxRecord: number; outgoingBound: number }
    readonly capacity?: number
    readonly toServer: Testing.Faults
    readonly toClient: Testing.Faults
  }
) =>
  Effect.gen(function*() {
    const client = Testing.framedEngine({ role: "client", handshakeRounds: setup.rounds, ...setup.client })
    const server = Testing.framedEngine({ role: "server", handshakeRounds: setup.rounds, ...setup.server })
    const [ct, st] = yield* Testing.makeFaultyPair({
      capacity: setup.capacity,
      aToB: setup.toServer,
      bToA: setup.toClient
    })
    return { client, server, ct, st }
  })

describe("RetryPolicy and the driver (properties, scripted engines)", () => {
  it.effect.prop(
    "termination: a handshake of k round trips succeeds under recurs(n) iff k <= n, else the last TlsWantRead",
    { k: fc.integer({ min: 0, max: 10 }), n: fc.integer({ min: 0, max: 10 }), delays },
    ({ delays, k, n }) =>
      Effect.gen(function*() {
        const { engine, stats } = Testing.scriptedEngine({ handshakeRounds: k })
        const [ours, peer] = yield* Testing.makeFaultyPair({ bToA: { delays } })
        yield* Effect.forkScoped(Testing.answerFlights(peer))
        const [exit] = yield* settle(
          Effect.scoped(Testing.connect(engine, ours, { retryPolicy: RetryPolicy.recurs(n) }))
        )
        if (k <= n) {
          expect(Exit.isSuccess(exit)).toBe(true)
        } else {
          expect(failureOf(exit)).toEqual(Option.some(new TlsWantRead({ operation: "handshake" })))
        }
        // One Want per attempt that needed input; one transport read per retry.
        expect(stats.wantReads).toBe(Math.min(k, n + 1))
        expect(ours.stats.reads).toBe(Math.min(k, n))
        expect(stats.retriesWithoutInput).toBe(0)
        // Either way the transport is released.
        expect(ours.stats.closed).toBe(true)
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "termination in time: under within(d) a handshake fails with TlsTimeoutError at the first Want d or more after the first",
    {
      d: fc.integer({ min: 1, max: 300 }),
      replies: fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 8 })
    },
    ({ d, replies }) =>
      Effect.gen(function*() {
        const k = replies.length
        const { engine, stats } = Testing.scriptedEngine({ handshakeRounds: k })
        // Reply i reaches the client replies[i] ms after the client's flight i.
        const [ours, peer] = yield* Testing.makeFaultyPair({ bToA: { delays: replies } })
        yield* Effect.forkScoped(Testing.answerFlights(peer))
        const [exit, at] = yield* settle(
          Effect.scoped(Testing.connect(engine, ours, { retryPolicy: RetryPolicy.within(d) }))
        )
        // Want i happens at wantAt[i] = replies[0] + ... + replies[i-1].
        const wantAt = replies.map((_, i) => replies.slice(0, i).reduce((a, b) => a + b, 0))
        const late = wantAt.findIndex((t) => t >= d)
        if (late < 0) {
          expect(Exit.isSuccess(exit)).toBe(true)
          expect(at).toBe(wantAt[k - 1]! + replies[k - 1]!)
        } else {
          expect(failureOf(exit)).toEqual(Option.some(new TlsTimeoutError({ phase: "handshake", millis: d })))
          expect(at).toBe(wantAt[late])
          expect(stats.wantReads).toBe(late + 1)
        }
        expect(stats.retriesWithoutInput).toBe(0)
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "termination with backoff: retry i waits base * 2^i before its I/O, and k <= n rounds complete at the sum",
    { base: fc.integer({ min: 1, max: 50 }), k: fc.integer({ min: 0, max: 6 }), n: fc.integer({ min: 0, max: 6 }) },
    ({ base, k, n }) =>
      Effect.gen(function*() {
        const { engine } = Testing.scriptedEngine({ handshakeRounds: k })
        const [ours, peer] = yield* Testing.makeFaultyPair()
        yield* Effect.forkScoped(Testing.answerFlights(peer))
        const [exit, at] = yield* settle(
          Effect.scoped(Testing.connect(engine, ours, { retryPolicy: RetryPolicy.backoff(base, n) }))
        )
        const waits = Array.from({ length: Math.min(k, n) }, (_, i) => base * 2 ** i).reduce((a, b) => a + b, 0)
        if (k <= n) expect(Exit.isSuccess(exit)).toBe(true)
        else expect(failureOf(exit)).toEqual(Option.some(new TlsWantRead({ operation: "handshake" })))
        expect(at).toBe(waits)
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "no busy loop: after TlsWantRead the driver retries only once new input (or end of input) was fed",
    {
      rounds: fc.integer({ min: 0, max: 3 }),
      steps: fc.array(
        fc.oneof(
          fc.constant(Testing.Step.wantRead),
          fc.uint8Array({ minLength: 1, maxLength: 8 }).map(Testing.Step.plaintext)
        ),
        { maxLength: 12 }
      ),
      chunks: fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 20 }),
      toClient: faults
    },
    ({ chunks, rounds, steps, toClient }) =>
      Effect.gen(function*() {
        const { engine, stats } = Testing.scriptedEngine({ handshakeRounds: rounds, reads: [...steps, Testing.Step.close] })
        const [ours, peer] = yield* Testing.makeFaultyPair({ bToA: toClient })
        const wants = rounds + steps.filter((s) => s._tag === "WantRead").length
        // The peer sends at least one chunk per input the script needs.
        const sizes = [...chunks, ...Array.from({ length: wants }, () => 1)]
        yield* Effect.forkScoped(Effect.forEach(sizes, (n) => peer.write(new Uint8Array(n).fill(n)), { discard: true }))
        const [exit] = yield* settle(Effect.scoped(Effect.flatMap(Testing.connect(engine, ours), readAll)))
        const expected = concatBytes(steps.flatMap((s) => (s._tag === "Plaintext" ? [s.bytes] : [])))
        expect(exit).toEqual(Exit.succeed(expected))
        expect(stats.retriesWithoutInput).toBe(0)
        // Every transport read answered a Want: no read ahead, no spin.
        expect(ours.stats.reads).toBeLessThanOrEqual(stats.wantReads)
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "exactly once, in order: plaintext written on one side is read whole and in order on the other, for any chunking and delays",
    {
      rounds: fc.integer({ min: 0, max: 3 }),
      client: framedOptions,
      server: framedOptions,
      capacity: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constant(256 * 1024)),
      toServer: faults,
      toClient: faults,
      c2s: messages,
      s2c: messages
    },
    ({ c2s, s2c, ...setup }) =>
      Effect.gen(function*() {
        const { client, ct, server, st } = yield* framedPair(setup)
        const side = (engine: Testing.TestEngine, transport: Testing.FaultyTransport, out: ReadonlyArray<Uint8Array>) =>
          Effect.scoped(Effect.flatMap(
            Testing.connect(engine.engine, transport),
            (conn) => Effect.all([readAll(conn), writeAll(conn, out)], { concurrency: 2 })
          ))
        const [exit] = yield* settle(
          Effect.all([side(client, ct, c2s), side(server, st, s2c)], { concurrency: 2 })
        )
        expect(Exit.isSuccess(exit)).toBe(true)
        const [[atClient], [atServer]] = Exit.isSuccess(exit) ? exit.value : [[], []]
        expect(atServer).toEqual(concatBytes(c2s))
        expect(atClient).toEqual(concatBytes(s2c))
        for (const { stats } of [client, server]) {
          expect(stats.retriesWithoutInput).toBe(0)
          expect(stats.retriesWithoutDrain).toBe(0)
        }
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "full duplex: concurrent writers on both sides, each message arrives whole and in its writer's order, never a deadlock",
    {
      rounds: fc.integer({ min: 0, max: 2 }),
      client: framedOptions,
      server: framedOptions,
      capacity: fc.integer({ min: 1, max: 48 }),
      toServer: faults,
      toClient: faults,
      writers: fc.array(messages, { minLength: 1, maxLength: 3 })
    },
    ({ writers, ...setup }) =>
      Effect.gen(function*() {
        const { client, ct, server, st } = yield* framedPair(setup)
        // Each side: several writer fibers at once, and a reader.
        const side = (engine: Testing.TestEngine, transport: Testing.FaultyTransport) =>
          Effect.scoped(Effect.flatMap(Testing.connect(engine.engine, transport), (conn) => {
            const write = Effect.zipRight(
              Effect.forEach(
                writers,
                (ms, w) => Effect.forEach(ms, (m, i) => conn.write(tagged(w, i, m)), { discard: true }),
                { concurrency: "unbounded", discard: true }
              ),
              conn.shutdown
            )
            return Effect.map(Effect.all([readAll(conn), write], { concurrency: 2 }), ([got]) => got)
          }))
        const done = yield* Testing.runVirtual(Effect.all([side(client, ct), side(server, st)], { concurrency: 2 }))
        expect(Option.isSome(done), "deadlock: every fiber waits and no timer is pending").toBe(true)
        const exit = Option.getOrThrow(done)
        if (Exit.isFailure(exit)) expect.fail(Cause.pretty(exit.cause))
        if (Exit.isSuccess(exit)) {
          expectWholeAndInOrder(exit.value[0], writers)
          expectWholeAndInOrder(exit.value[1], writers)
        }
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "concurrent readers: several fibers reading one connection get every byte exactly once, never a deadlock",
    {
      rounds: fc.integer({ min: 0, max: 2 }),
      client: framedOptions,
      server: framedOptions,
      capacity: fc.integer({ min: 1, max: 48 }),
      toServer: faults,
      toClient: faults,
      sent: messages,
      readers: fc.integer({ min: 2, max: 3 })
    },
    ({ readers, sent, ...setup }) =>
      Effect.gen(function*() {
        const { client, ct, server, st } = yield* framedPair(setup)
        const side = (engine: Testing.TestEngine, transport: Testing.FaultyTransport) =>
          Effect.scoped(Effect.flatMap(Testing.connect(engine.engine, transport), (conn) => {
            const read = Effect.forEach(Array.from({ length: readers }), () => readAll(conn), { concurrency: "unbounded" })
            return Effect.map(Effect.all([read, writeAll(conn, sent)], { concurrency: 2 }), ([got]) => concatBytes(got))
          }))
        const done = yield* Testing.runVirtual(Effect.all([side(client, ct), side(server, st)], { concurrency: 2 }))
        expect(Option.isSome(done), "deadlock: every fiber waits and no timer is pending").toBe(true)
        const exit = Option.getOrThrow(done)
        if (Exit.isFailure(exit)) expect.fail(Cause.pretty(exit.cause))
        // Which reader got which chunk is up to the scheduler: compare the bytes as multisets.
        const sorted = (b: Uint8Array) => [...b].sort((x, y) => x - y)
        if (Exit.isSuccess(exit)) {
          expect(sorted(exit.value[0])).toEqual(sorted(concatBytes(sent)))
          expect(sorted(exit.value[1])).toEqual(sorted(concatBytes(sent)))
        }
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "interrupted writes: the peer never sees a later write after a cut-off one, and a cut-off write always ends in an error",
    {
      client: framedOptions,
      capacity: fc.integer({ min: 1, max: 64 }),
      toServer: faults,
      sent: fc.array(message, { minLength: 1, maxLength: 6 }),
      at: fc.integer({ min: 0, max: 80 }),
      yields: fc.integer({ min: 0, max: 40 })
    },
    ({ at, client: clientOptions, sent, yields, ...setup }) =>
      Effect.gen(function*() {
        const { client, ct, server, st } = yield* framedPair({
          ...setup,
          rounds: 0,
          client: clientOptions,
          server: { maxWrite: 16384, maxRecord: 16384, outgoingBound: 1 << 20 },
          toClient: {}
        })
        const later = tagged(9, 0, Uint8Array.of(1, 2, 3))
        /** Everything the server reads until the end, and how it ended. */
        const serverSide = Effect.scoped(Effect.flatMap(Testing.connect(server.engine, st), (conn) =>
          Effect.gen(function*() {
            const chunks: Array<Uint8Array> = []
            for (;;) {
              const next = yield* Effect.exit(conn.read)
              if (Exit.isFailure(next)) return { bytes: concatBytes(chunks), end: failureOf(next) }
              if (Option.isNone(next.value)) return { bytes: concatBytes(chunks), end: Option.none() }
              chunks.push(next.value.value)
            }
          })))
        const clientSide = Effect.scoped(Effect.gen(function*() {
          const conn = yield* Testing.connect(client.engine, ct)
          const writer = yield* Effect.fork(Effect.forEach(sent, (m, i) => conn.write(tagged(0, i, m)), { discard: true }))
          yield* Effect.sleep(at)
          yield* Effect.repeatN(Effect.yieldNow(), yields)
          yield* Fiber.interrupt(writer)
          // Whatever the interruption cut, a later write either goes out whole or fails.
          return yield* Effect.exit(conn.write(later))
        }))
        const done = yield* Testing.runVirtual(Effect.all([clientSide, serverSide], { concurrency: 2 }))
        expect(Option.isSome(done), "stuck").toBe(true)
        const outcome = Option.getOrThrow(done)
        if (Exit.isFailure(outcome)) expect.fail(Cause.pretty(outcome.cause))
        if (Exit.isSuccess(outcome)) {
          const [laterWrite, { bytes, end }] = outcome.value
          const { messages: got, rest } = untag(bytes)
          const first = got.filter((m) => m.writer === 0)
          // Always: the first writer's messages whole and in order, a prefix of what it wrote.
          expect(first.map((m) => m.index)).toEqual(first.map((_, i) => i))
          first.forEach((m, i) => expect(m.payload).toEqual(sent[i]))
          if (Exit.isSuccess(laterWrite)) {
            // Nothing was cut: a clean end, and the later message last.
            expect(end).toEqual(Option.none())
            expect(rest.length).toBe(0)
            expect(got.map((m) => m.writer)).toEqual([...first.map(() => 0), 9])
          } else {
            // A write was cut: the connection broke, the peer sees the cut-off
            // message's start and then an error, never the later message.
            expect(failureOf(laterWrite)).toEqual(
              Option.some(expect.objectContaining({ _tag: "TlsClosedError", reason: "WriteInterrupted" }))
            )
            expect(end).toEqual(Option.some(expect.objectContaining({ _tag: "TlsUnexpectedEof" })))
            expect(got.every((m) => m.writer === 0)).toBe(true)
            const next = tagged(0, first.length, sent[first.length] ?? new Uint8Array(0))
            expect(rest.length).toBeGreaterThan(0)
            expect(rest.length).toBeLessThan(next.length)
            expect(rest).toEqual(next.subarray(0, rest.length))
          }
        }
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "interruption: interrupting a connection at any step releases its transport and engine and leaves no fiber running",
    {
      rounds: fc.integer({ min: 0, max: 3 }),
      client: framedOptions,
      server: framedOptions,
      capacity: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.constant(256 * 1024)),
      toServer: faults,
      toClient: faults,
      c2s: messages,
      s2c: messages,
      at: fc.integer({ min: 0, max: 120 }),
      yields: fc.integer({ min: 0, max: 30 })
    },
    ({ at, c2s, s2c, yields, ...setup }) =>
      Effect.gen(function*() {
        const { client, ct, server, st } = yield* framedPair(setup)
        const side = (engine: Testing.TestEngine, transport: Testing.FaultyTransport, out: ReadonlyArray<Uint8Array>) =>
          Effect.scoped(Effect.flatMap(
            Testing.connect(engine.engine, transport),
            (conn) => Effect.all([readAll(conn), writeAll(conn, out)], { concurrency: 2 })
          ))
        const scenario = Effect.gen(function*() {
          const c = yield* Effect.fork(side(client, ct, c2s))
          const s = yield* Effect.fork(side(server, st, s2c))
          yield* Effect.sleep(at)
          yield* Effect.repeatN(Effect.yieldNow(), yields)
          yield* Fiber.interrupt(c)
          return yield* Fiber.await(s)
        })
        const [exit, running] = yield* Testing.trackFibers(Testing.runVirtual(scenario))
        if (client.stats.calls.handshake > 0) {
          expect(ct.stats.closed, "the interrupted side's transport was released").toBe(true)
          expect(client.stats.destroyed, "the interrupted side's engine was destroyed").toBe(true)
        }
        expect(running, "fibers still running").toEqual([])
        expect(Exit.isSuccess(exit) && Option.isSome(exit.value), "the server side completed").toBe(true)
        expect(st.stats.closed).toBe(true)
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "end of input: a transport that ends early gives TlsUnexpectedEof, never a silent short read",
    {
      rounds: fc.integer({ min: 0, max: 3 }),
      client: framedOptions,
      server: framedOptions,
      toClient: faults,
      s2c: messages,
      endAfter: fc.oneof(fc.integer({ min: 0, max: 1200 }), fc.constant(Number.MAX_SAFE_INTEGER))
    },
    ({ endAfter, s2c, toClient, ...setup }) =>
      Effect.gen(function*() {
        const { client, ct, server, st } = yield* framedPair({ ...setup, toServer: {}, toClient: { ...toClient, endAfter } })
        const clientSide = Effect.scoped(Effect.flatMap(Testing.connect(client.engine, ct), (conn) => {
          const got: Array<Uint8Array> = []
          return conn.stream.pipe(
            Stream.runForEach((chunk) => Effect.sync(() => got.push(chunk))),
            Effect.exit,
            Effect.map((exit) => ({ exit, got: concatBytes(got) }))
          )
        }))
        const serverSide = Effect.scoped(
          Effect.flatMap(Testing.connect(server.engine, st), (conn) => writeAll(conn, s2c))
        )
        const [exit] = yield* settle(Effect.all([clientSide, Effect.exit(serverSide)], { concurrency: 2 }))
        const sent = concatBytes(s2c)
        const total = st.stats.bytesWritten
        if (endAfter >= total) {
          // Everything, close_notify included, arrived: a clean end.
          expect(Exit.isSuccess(exit)).toBe(true)
          if (Exit.isSuccess(exit)) expect(exit.value[0]).toEqual({ exit: Exit.void, got: sent })
        } else if (Exit.isSuccess(exit)) {
          // Cut after the handshake: a prefix, then TlsUnexpectedEof.
          const { exit: reading, got } = exit.value[0]
          expect(failureOf(reading)).toEqual(Option.some(new TlsUnexpectedEof({ phase: "read" })))
          expect(got).toEqual(sent.subarray(0, got.length))
        } else {
          // Cut during the handshake.
          expect(failureOf(exit)).toEqual(Option.some(new TlsUnexpectedEof({ phase: "handshake" })))
        }
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "reset and stall: a reset transport gives TlsTransportError, a stalled one the handshake timeout or a wait without spinning",
    {
      rounds: fc.integer({ min: 0, max: 3 }),
      client: framedOptions,
      server: framedOptions,
      toClient: faults,
      s2c: messages,
      kind: fc.constantFrom("reset" as const, "stall" as const),
      after: fc.oneof(fc.integer({ min: 0, max: 1200 }), fc.constant(Number.MAX_SAFE_INTEGER))
    },
    ({ after, kind, s2c, toClient, ...setup }) =>
      Effect.gen(function*() {
        const cut = kind === "reset" ? { resetAfter: after } : { stallAfter: after }
        const { client, ct, server, st } = yield* framedPair({ ...setup, toServer: {}, toClient: { ...toClient, ...cut } })
        let connected = false
        const got: Array<Uint8Array> = []
        const clientSide = Effect.scoped(
          Effect.flatMap(Testing.connect(client.engine, ct, { handshakeTimeout: "5 seconds" }), (conn) => {
            connected = true
            return Stream.runForEach(conn.stream, (chunk) => Effect.sync(() => got.push(chunk)))
          })
        )
        const serverSide = Effect.scoped(
          Effect.flatMap(Testing.connect(server.engine, st), (conn) => writeAll(conn, s2c))
        )
        const done = yield* Testing.runVirtual(
          Effect.all([Effect.exit(clientSide), Effect.exit(serverSide)], { concurrency: 2 }).pipe(
            Effect.zip(Clock.currentTimeMillis)
          )
        )
        const sent = concatBytes(s2c)
        expect(concatBytes(got)).toEqual(sent.subarray(0, concatBytes(got).length))
        expect(client.stats.retriesWithoutInput).toBe(0)
        if (after >= st.stats.bytesWritten) {
          expect(Option.map(done, Exit.map(([[c]]) => c))).toEqual(Option.some(Exit.succeed(Exit.void)))
        } else if (kind === "reset") {
          const [[c]] = Exit.getOrElse(Option.getOrThrow(done), () => expect.fail("unreachable"))
          expect(failureOf(c)).toEqual(Option.some(new TlsTransportError({ reason: "Reset", code: "ECONNRESET" })))
        } else if (!connected) {
          const [[c], at] = Exit.getOrElse(Option.getOrThrow(done), () => expect.fail("unreachable"))
          expect(failureOf(c)).toEqual(Option.some(new TlsTimeoutError({ phase: "handshake", millis: 5000 })))
          expect(at).toBe(5000)
        } else {
          // Stalled after the handshake: the reader waits, without spinning.
          expect(done).toEqual(Option.none())
          expect(ct.stats.closed).toBe(true)
        }
      }).pipe(Effect.scoped),
    params
  )
})
