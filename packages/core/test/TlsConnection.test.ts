/**
 * The driver, over a scripted engine: Want errors lead to exactly the I/O
 * they ask for, the RetryPolicy bounds the retries, failures are sticky.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, Logger, Option, Scope, TestClock } from "effect"
import * as RetryPolicy from "../src/RetryPolicy.js"
import * as Testing from "../src/testing.js"
import * as TlsConnection from "../src/TlsConnection.js"
import type { TlsEngine } from "../src/TlsEngine.js"
import { TlsProtocolError, TlsUnexpectedEof, TlsWantRead } from "../src/TlsError.js"
import * as TlsOptions from "../src/TlsOptions.js"
import * as Transport from "../src/Transport.js"

/**
 * An engine whose handshake completes after `flights` chunks of input and
 * which then passes input through as plaintext ("identity TLS").
 */
const scripted = (flights: number, script: { failReadWith?: TlsProtocolError } = {}) => {
  const inbox: Array<Uint8Array> = []
  const outgoing: Array<Uint8Array> = []
  let fed = 0
  let ended = false
  let waiters: Array<() => void> = []
  const stats = { wantReads: 0 }
  const want = (operation: "handshake" | "read"): Effect.Effect<never, TlsWantRead> => {
    stats.wantReads++
    return Effect.fail(new TlsWantRead({ operation }))
  }
  const engine: TlsEngine = {
    role: "client",
    feed: (bytes) => {
      fed++
      if (fed > flights) inbox.push(bytes)
    },
    feedEnd: () => {
      ended = true
    },
    drain: () => outgoing.splice(0),
    pendingOutgoing: () => outgoing.reduce((n, c) => n + c.length, 0),
    outgoingReady: Effect.async<void>((resume) => {
      if (outgoing.length > 0) return resume(Effect.void)
      waiters.push(() => resume(Effect.void))
    }),
    writable: Effect.void,
    handshake: Effect.suspend((): Effect.Effect<void, TlsWantRead | TlsUnexpectedEof> =>
      fed >= flights ? Effect.void : ended ? Effect.fail(new TlsUnexpectedEof({ phase: "handshake" })) : want("handshake")
    ),
    read: Effect.suspend((): Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsProtocolError> => {
      if (script.failReadWith) return Effect.fail(script.failReadWith)
      if (inbox.length > 0) return Effect.succeed(Option.some(inbox.shift()!))
      return ended ? Effect.succeed(Option.none()) : want("read")
    }),
    write: (bytes) =>
      Effect.sync(() => {
        outgoing.push(bytes.slice())
        const ws = waiters
        waiters = []
        for (const w of ws) w()
        return bytes.length
      }),
    shutdown: Effect.void,
    info: Effect.succeed({
      role: "client",
      protocol: "scripted",
      cipher: "none",
      alpnProtocol: Option.none(),
      servername: Option.none(),
      authorized: false,
      peerCertificate: Option.none(),
      peerCertificateChain: [],
      sessionReused: false
    }),
    destroy: Effect.void
  }
  return { engine, stats }
}

const options = (policy: RetryPolicy.RetryPolicy) =>
  TlsOptions.decodeUpgrade({ role: "client", verify: false, retryPolicy: policy })

/**
 * A transport that counts reads, and its peer end. With a capacity of one
 * byte, every one-byte write by the peer arrives in a read of its own.
 */
const pipeOf = (capacity: number) => Effect.gen(function*() {
  const [ours, theirs] = yield* Transport.makeMemoryPair({ capacity })
  // Counts every chunk (or end) taken, through either way of reading.
  const counter = { reads: 0 }
  const immediate = ours.immediate!
  const counted: Transport.Transport = {
    ...ours,
    read: Effect.tap(ours.read, () => Effect.sync(() => counter.reads++)),
    immediate: {
      ...immediate,
      tryRead: () => {
        const chunk = immediate.tryRead()
        if (chunk !== undefined) counter.reads++
        return chunk
      }
    }
  }
  return { transport: counted, peer: theirs, counter }
})
const pipe = pipeOf(64 * 1024)

const bytes = (s: string) => new TextEncoder().encode(s)

describe("TlsConnection.make (driver)", () => {
  it.scoped("reads the transport exactly once per TlsWantRead", () =>
    Effect.gen(function*() {
      const { engine, stats } = scripted(3)
      const { transport, peer, counter } = yield* pipeOf(1)
      const fiber = yield* Effect.fork(TlsConnection.make(engine, transport, yield* options(RetryPolicy.recurs(10))))
      for (const flight of ["1", "2", "3"]) yield* peer.write(bytes(flight))
      yield* Fiber.join(fiber)
      expect(counter.reads).toBe(3)
      expect(stats.wantReads).toBe(3)
    }))

  it.scoped("surfaces the last TlsWantRead when the policy gives up", () =>
    Effect.gen(function*() {
      const { engine } = scripted(5)
      const { transport, peer, counter } = yield* pipeOf(1)
      yield* Effect.forkScoped(Effect.forEach(["1", "2", "3", "4", "5"], (f) => peer.write(bytes(f))))
      // Five flights arrive one per read; the policy allows two retries, so
      // two reads: at the third Want the policy stops before any I/O.
      const exit = yield* TlsConnection.make(engine, transport, yield* options(RetryPolicy.recurs(2))).pipe(
        Effect.scoped,
        Effect.exit
      )
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toEqual(
        Option.some(new TlsWantRead({ operation: "handshake" }))
      )
      expect(counter.reads).toBe(2)
    }))

  it.scoped("a time-bounded policy gives TlsTimeoutError once its time has passed between Wants", () =>
    Effect.gen(function*() {
      const { engine } = scripted(3)
      const { transport, peer } = yield* pipeOf(1)
      const fiber = yield* Effect.fork(
        TlsConnection.make(engine, transport, yield* options(RetryPolicy.within("1 second"))).pipe(Effect.scoped)
      )
      yield* peer.write(bytes("1")) // first Want answered at t = 0
      yield* TestClock.adjust("2 seconds")
      yield* peer.write(bytes("2")) // second Want at t = 2 s: over the bound
      const failure = yield* Effect.flip(Fiber.join(fiber))
      expect(failure).toMatchObject({ _tag: "TlsTimeoutError", phase: "handshake", millis: 1000 })
    }))

  it.scoped("a time-bounded policy lets a handshake finish within its time", () =>
    Effect.gen(function*() {
      const { engine } = scripted(3)
      const { transport, peer } = yield* pipeOf(1)
      const fiber = yield* Effect.fork(
        TlsConnection.make(engine, transport, yield* options(RetryPolicy.within("1 second"))).pipe(Effect.scoped)
      )
      for (const flight of ["1", "2", "3"]) {
        yield* peer.write(bytes(flight))
        yield* TestClock.adjust("300 millis")
      }
      expect(Exit.isSuccess(yield* Fiber.await(fiber))).toBe(true)
    }))

  it.scoped("flushes what the engine wrote and reads what the peer sent", () =>
    Effect.gen(function*() {
      const { engine } = scripted(0)
      const { transport, peer } = yield* pipe
      const conn = yield* TlsConnection.make(engine, transport, yield* options(RetryPolicy.defaultPolicy))
      yield* conn.write("ping")
      expect(yield* peer.read).toEqual(Option.some(bytes("ping")))
      yield* peer.write(bytes("pong"))
      expect(yield* conn.read).toEqual(Option.some(bytes("pong")))
    }))

  it.scoped("a connection spread into a wrapper keeps every operation", () =>
    Effect.gen(function*() {
      const { engine } = scripted(0)
      const { transport, peer } = yield* pipe
      const conn = yield* TlsConnection.make(engine, transport, yield* options(RetryPolicy.defaultPolicy))
      let written = 0
      const wrapper: TlsConnection.TlsConnection = {
        ...conn,
        write: (data) => {
          written++
          return conn.write(data)
        }
      }
      for (const member of ["info", "read", "write", "shutdown", "abort", "stream", "sink"] as const) {
        expect(wrapper[member], member).toBeDefined()
      }
      yield* wrapper.write("ping")
      expect(written).toBe(1)
      expect(yield* peer.read).toEqual(Option.some(bytes("ping")))
      yield* peer.write(bytes("pong"))
      expect(yield* wrapper.read).toEqual(Option.some(bytes("pong")))
      yield* wrapper.shutdown
    }))

  it.scoped("concurrent readers share one transport read", () =>
    Effect.gen(function*() {
      const { engine } = scripted(0)
      const { transport, peer, counter } = yield* pipeOf(1)
      const conn = yield* TlsConnection.make(engine, transport, yield* options(RetryPolicy.defaultPolicy))
      const a = yield* Effect.fork(conn.read)
      const b = yield* Effect.fork(conn.read)
      yield* Effect.yieldNow()
      yield* peer.write(bytes("x"))
      yield* peer.write(bytes("y"))
      const got = [yield* Fiber.join(a), yield* Fiber.join(b)].map((o) => new TextDecoder().decode(Option.getOrThrow(o)))
      expect(got.sort()).toEqual(["x", "y"])
      expect(counter.reads).toBe(2)
    }))

  it.scoped("a protocol error is sticky: every later call fails with it", () =>
    Effect.gen(function*() {
      const failure = new TlsProtocolError({ code: "ERR_TEST", reason: "scripted" })
      const { engine } = scripted(0, { failReadWith: failure })
      const { transport } = yield* pipe
      const conn = yield* TlsConnection.make(engine, transport, yield* options(RetryPolicy.defaultPolicy))
      const first = yield* Effect.flip(conn.read)
      expect(first).toBe(failure)
      expect(yield* Effect.flip(conn.write("after"))).toBe(failure)
      expect(yield* Effect.flip(conn.read)).toBe(failure)
    }))

  it.effect("operations after the scope closed fail with TlsClosedError", () =>
    Effect.gen(function*() {
      const { engine } = scripted(0)
      const scope = yield* Scope.make()
      const { transport } = yield* Scope.extend(pipe, scope)
      const conn = yield* Scope.extend(
        TlsConnection.make(engine, transport, yield* options(RetryPolicy.defaultPolicy)),
        scope
      )
      yield* Scope.close(scope, Exit.void)
      expect(yield* Effect.flip(conn.read)).toMatchObject({ _tag: "TlsClosedError", operation: "read" })
      expect(yield* Effect.flip(conn.write("x"))).toMatchObject({ _tag: "TlsClosedError", operation: "write" })
    }))

  it.scoped("closing the scope releases the transport", () =>
    Effect.gen(function*() {
      const { engine } = scripted(0)
      const { transport, peer } = yield* pipe
      yield* TlsConnection.make(engine, transport, yield* options(RetryPolicy.defaultPolicy)).pipe(Effect.scoped)
      expect(yield* peer.read).toEqual(Option.none())
    }))

  it.scoped("interrupting a handshake releases the transport", () =>
    Effect.gen(function*() {
      const { engine } = scripted(2)
      const { transport, peer } = yield* pipe
      const fiber = yield* Effect.fork(
        TlsConnection.make(engine, transport, yield* options(RetryPolicy.defaultPolicy)).pipe(Effect.scoped)
      )
      yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      expect(yield* peer.read).toEqual(Option.none())
      expect(yield* Effect.flip(peer.write(bytes("late")))).toMatchObject({ _tag: "TlsTransportError" })
    }))
})

/**
 * RetryPolicy bounds on reads, over a framed engine and a peer that writes
 * records by hand, on the TestClock.
 */
describe("TlsConnection.make (policies on reads)", () => {
  const setup = (policy: RetryPolicy.RetryPolicy) =>
    Effect.gen(function*() {
      const { engine } = Testing.framedEngine({ role: "client", handshakeRounds: 0 })
      const [ours, peer] = yield* Transport.makeMemoryPair()
      const conn = yield* Testing.connect(engine, ours, { retryPolicy: policy })
      return { conn, peer }
    })
  /** A record of `text`, cut into pieces at `cuts`. */
  const pieces = (text: string, cuts: ReadonlyArray<number>) => {
    const record = Testing.framedRecords.data(bytes(text))
    const at = [0, ...cuts, record.length]
    return at.slice(1).map((end, i) => record.subarray(at[i]!, end))
  }
  const text = (o: Option.Option<Uint8Array>) => new TextDecoder().decode(Option.getOrThrow(o))

  it.scoped("within: the time a read waits before its first input never counts", () =>
    Effect.gen(function*() {
      const { conn, peer } = yield* setup(RetryPolicy.within("200 millis"))
      const [first, second] = pieces("hello", [3])
      const reading = yield* Effect.fork(conn.read)
      // The peer is quiet for 300 ms, then sends one record in two pieces.
      yield* TestClock.adjust("300 millis")
      yield* peer.write(first!)
      yield* TestClock.adjust("100 millis")
      yield* peer.write(second!)
      expect(text(yield* Fiber.join(reading))).toBe("hello")
      // The connection is healthy: the next read works the same way.
      const again = yield* Effect.fork(conn.read)
      yield* TestClock.adjust("1 second")
      for (const piece of pieces("again", [2])) yield* peer.write(piece)
      expect(text(yield* Fiber.join(again))).toBe("again")
    }))

  it.scoped("within: a record that trickles in for longer than the bound fails the read, and the connection stays broken", () =>
    Effect.gen(function*() {
      const { conn, peer } = yield* setup(RetryPolicy.within("200 millis"))
      const parts = pieces("hello", [2, 4])
      const reading = yield* Effect.fork(conn.read)
      yield* peer.write(parts[0]!) // first input at t = 0: the bound starts
      yield* TestClock.adjust("100 millis")
      yield* peer.write(parts[1]!) // t = 100 ms: within the bound
      yield* TestClock.adjust("150 millis")
      yield* peer.write(parts[2]!) // the Want at 100 ms is answered; the record completes at 250 ms
      expect(text(yield* Fiber.join(reading))).toBe("hello")
      const slow = pieces("world", [2, 4, 6])
      const next = yield* Effect.fork(conn.read)
      yield* peer.write(slow[0]!)
      yield* TestClock.adjust("100 millis")
      yield* peer.write(slow[1]!)
      yield* TestClock.adjust("150 millis")
      yield* peer.write(slow[2]!)
      // The Want after the third piece, 250 ms after this read's first input: over the bound.
      const failure = yield* Effect.flip(Fiber.join(next))
      expect(failure).toMatchObject({ _tag: "TlsTimeoutError", phase: "read", millis: 200 })
      yield* peer.write(slow[3]!)
      // Sticky: the engine may hold part of a record, so every later call fails the same way.
      expect(yield* Effect.flip(conn.read)).toBe(failure)
      expect(yield* Effect.flip(conn.write("x"))).toBe(failure)
    }))

  it.scoped("recurs: running out of retries breaks the connection (sticky, like every failure)", () =>
    Effect.gen(function*() {
      const { conn, peer } = yield* setup(RetryPolicy.recurs(1))
      const parts = pieces("hello", [2, 4])
      const reading = yield* Effect.fork(conn.read)
      yield* TestClock.adjust("1 second") // idle: not a retry
      yield* peer.write(parts[0]!) // input: Want, retry 1
      yield* Effect.yieldNow()
      yield* peer.write(parts[1]!) // input: Want, no retry left
      const failure = yield* Effect.flip(Fiber.join(reading))
      expect(failure).toEqual(new TlsWantRead({ operation: "read" }))
      yield* peer.write(parts[2]!)
      expect(yield* Effect.flip(conn.read)).toBe(failure)
      expect(yield* Effect.flip(conn.shutdown)).toBe(failure)
    }))
})

describe("TlsConnection.make (closing)", () => {
  const logs: Array<string> = []
  const capture = Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ message }) => {
      logs.push(Array.isArray(message) ? message.join(" ") : String(message))
    })
  )

  it.scoped("a close whose bytes the transport never takes ends after the grace, with a warning naming the bytes left", () =>
    Effect.gen(function*() {
      const { engine } = Testing.framedEngine({ role: "client", handshakeRounds: 0 })
      // A pipe of 1 KiB that the peer never reads: it takes the first batch
      // (it accepts a write while it holds less than its capacity), never the second.
      const [ours] = yield* Transport.makeMemoryPair({ capacity: 1024 })
      const scope = yield* Scope.make()
      const conn = yield* Testing.connect(engine, ours).pipe(Scope.extend(scope))
      yield* conn.write(new Uint8Array(64 * 1024))
      yield* Effect.yieldNow()
      yield* conn.write(new Uint8Array(64 * 1024))
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust("4 seconds")
      expect(closing.unsafePoll(), "the close waits while the grace lasts").toBeNull()
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(closing)
      const warning = logs.find((l) => l.includes("abortive"))
      expect(warning).toBeDefined()
      const left = Number(/did not accept (\d+) bytes/.exec(warning ?? "")?.[1])
      expect(left).toBeGreaterThan(60 * 1024)
    }).pipe(Effect.provide(capture)))
})
