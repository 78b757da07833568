/**
 * The driver: joins a sans-IO engine to a transport (trio's SSLStream, in
 * Effect).
 *
 * Theory of operation.
 *
 * - Who does what. The caller's fibers run the engine operations
 *   (handshake, read, write, shutdown); engine calls are synchronous steps
 *   that succeed, fail, or answer a Want. Every wait is on a `Readiness`
 *   (a named event over Effect's Latch), so no wake-up is lost between a
 *   check and a wait.
 * - The hot path. An engine and a transport may answer at once
 *   (`immediate`): a read that finds plaintext, or finds none while the
 *   transport holds a chunk (fed, then the engine asked again), is one
 *   step; so is a write the engine takes whole while nobody else writes.
 *   Everything else goes through `drive`.
 * - TlsWantRead: the operation asks for ONE transport read (`fill`), then
 *   is retried. With `immediate`, the caller takes a chunk already there
 *   and feeds it in the same step (nothing to interrupt in between), or
 *   waits until there is one; otherwise the `reader` fiber reads it.
 *   Fibers that want input at the same time share that read: whoever
 *   finds that input arrived since its Want (`fed` changed) just retries.
 *   Interrupting a caller never loses ciphertext.
 * - Output. An engine with `onOutput` reports ciphertext as it appears,
 *   and `flushNow` hands it to an `immediate` transport in that step. A
 *   batch the transport has no room for (`unsent`) is owned by the driver
 *   until the transport accepted it, and the `flusher` fiber (started the
 *   first time that happens) writes it. The engine is drained again only
 *   once that batch is gone, so the engine's bound bounds both. Without
 *   `onOutput` or `immediate` the flusher does all of this from the start.
 * - TlsWantWrite: the operation waits until the engine is writable again,
 *   which happens as its output is flushed. A write the engine refused
 *   whole while nobody else writes (`roomWrite`) waits for that and asks
 *   again for all of it, without the full path: each wait is still one
 *   retry of a counted policy (`recurs`, the default), and nothing of the
 *   write is taken before the step that takes all of it.
 * - RetryPolicy. Before each retry the policy decides (it may sleep); when
 *   it gives up, the connection breaks with the last Want (or
 *   TlsTimeoutError for `within`). A read that finds nothing has arrived
 *   since it started is waiting for the peer, not retrying: that wait does
 *   not count, so a read's time bound starts at its first input.
 * - Writes hold `writeLock` from start to end: whole writes, in the order
 *   they started. A write interrupted after the engine took part of its
 *   bytes breaks the connection (`TlsClosedError` "WriteInterrupted"):
 *   the engine's byte counts are recorded in the same uninterruptible step
 *   that took them, so "part of" is exact.
 * - End of input without close_notify: `TlsUnexpectedEof`, unless the
 *   options allow truncation: then a read after the handshake gives `None`
 *   instead, the same meaning as on a native path, which cannot tell.
 * - State: Handshaking -> Open -> Closing (close_notify sent) -> Closed;
 *   any failure moves it to Broken, and every later call fails with that
 *   same error (sticky). One exception: a transport write that fails
 *   (the peer went away) fails every later write and shutdown, but what
 *   the peer sent before it left stays readable, as with TCP.
 * - Closing the scope: a healthy connection sends close_notify (after the
 *   write in progress, if any); then the driver waits, within the close
 *   grace, until the transport accepted every byte the engine produced.
 *   A broken one sends only what is already encrypted (an alert, the start
 *   of a cut-off write), never close_notify, so its peer sees an error. If
 *   the grace runs out the close is abortive and a warning names the bytes
 *   left behind.
 */
import type * as Chunk from "effect/Chunk"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as Readiness from "../Readiness.js"
import * as RetryPolicy from "../RetryPolicy.js"
import type { TlsConnection, TlsConnectionError } from "../TlsConnection.js"
import type { ConnectionInfo, EngineImmediate, TlsEngine } from "../TlsEngine.js"
import {
  isTlsWant,
  TlsClosedError,
  type TlsError,
  TlsTimeoutError,
  TlsUnexpectedEof,
  type TlsWant,
  want
} from "../TlsError.js"
import type { ResolvedClient, ResolvedServer } from "../TlsOptions.js"
import type { Immediate, Transport } from "../Transport.js"
import { concat, utf8Encode } from "./bytes.js"
import * as deadline from "./deadline.js"
import * as secrets from "./secrets.js"
import * as telemetry from "./telemetry.js"

type State =
  | { readonly _tag: "Handshaking" }
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closing" }
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Broken"; readonly error: TlsConnectionError }

type Operation = "handshake" | "read" | "write" | "shutdown"

type Restore = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>

const isWant = <E>(e: E): e is E & TlsWant => isTlsWant(e)

const unrestricted: Restore = (effect) => effect

const isOpen = (s: State) => s._tag === "Open"

/** The peer's input ended without close_notify, after the handshake. */
const isTruncation = (e: unknown): e is TlsUnexpectedEof => e instanceof TlsUnexpectedEof && e.phase === "read"

const endOfStream = () => Effect.succeed(Option.none<Uint8Array>())

/**
 * A first-come, first-served lock (a ticket lock) that costs nothing when
 * it is free: `tryAcquire` is a synchronous check, and only a caller that
 * finds it held waits, for its own turn, on a Readiness.
 */
class TurnLock {
  private next = 0
  private serving = 0
  /** Tickets given up while waiting (made when the first is). */
  private abandoned: Set<number> | undefined = undefined
  private readonly turn = Readiness.make()

  /** Nobody holds the lock or waits for it. */
  isFree(): boolean {
    return this.next === this.serving
  }

  /** Take the lock now if it is free and nobody waits for it. */
  tryAcquire(): boolean {
    if (this.next !== this.serving) return false
    this.next++
    return true
  }

  /** Wait for a turn; `restore` makes the wait interruptible. Run uninterruptibly. */
  acquire(restore: Restore): Effect.Effect<void> {
    return Effect.suspend(() => {
      const ticket = this.next++
      if (this.serving === ticket) return Effect.void
      return restore(this.turn.until(() => this.serving === ticket)).pipe(
        Effect.onInterrupt(() => Effect.sync(() => this.abandon(ticket)))
      )
    })
  }

  release(): void {
    this.serving++
    while (this.abandoned?.delete(this.serving) === true) this.serving++
    this.turn.signal()
  }

  /** A waiter gave up: skip its turn (or hand it on, if it had just come). */
  private abandon(ticket: number): void {
    if (this.serving === ticket) this.release()
    else if (this.serving < ticket) (this.abandoned ??= new Set()).add(ticket)
  }

  /** Run `effect` holding the lock. */
  with<A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.zipRight(
        this.acquire(restore),
        Effect.ensuring(restore(effect), Effect.sync(() => this.release()))
      )
    )
  }
}

class Driver {
  state: State = { _tag: "Handshaking" }
  private peerClosed = false
  /** Counted in `TlsMetrics.openConnections` (from the handshake's end to the release). */
  counted = false

  // Input: the reader fiber serves read requests.
  /** Transport reads completed (chunks or end of input fed). */
  private fed = 0
  /** Transport reads asked for; the reader serves them one at a time. */
  private requested = 0
  private inputEnded = false
  private inputFailure: TlsError | undefined = undefined
  private readonly readWanted = Readiness.make()
  private readonly inputArrived = Readiness.make()

  // Output: the flusher fiber owns every byte taken from the engine.
  /** The batch taken from the engine that the transport has not accepted yet (one at a time). */
  private unsent: Uint8Array | undefined = undefined
  private outputFailure: TlsError | undefined = undefined
  private readonly flushed = Readiness.make()
  /** Output for the flusher: a batch the transport had no room for, or (without `immediate`) engine output. */
  private readonly outboxReady = Readiness.make()
  private readonly immediate: Immediate | undefined
  private readonly engineImmediate: EngineImmediate | undefined
  private readonly retryLimit: number | undefined

  private readonly writeLock = new TurnLock()
  readonly fibers: Array<Fiber.RuntimeFiber<void>> = []
  /** Starts the flusher when it is started on demand (see `make`). */
  startFlusher: (() => void) | undefined = undefined

  // A server's idle deadline (idle.ts), without a step of its own per call.
  /** Told, in the same step, each time a read, write or shutdown completes. */
  completed: (() => void) | undefined = undefined
  /** The error the connection expired with: every pending and later call fails with it. */
  private expiredWith: TlsConnectionError | undefined = undefined

  constructor(
    readonly engine: TlsEngine,
    readonly transport: Transport,
    readonly policy: RetryPolicy.RetryPolicy,
    readonly closeGrace: Duration.Duration,
    /** A FIN without close_notify reads as a clean end (`allowTruncation`). */
    readonly allowTruncation: boolean
  ) {
    this.immediate = transport.immediate
    this.engineImmediate = engine.immediate
    this.retryLimit = Option.getOrUndefined(RetryPolicy.retryLimit(policy))
  }

  // The reader.

  #reader: Effect.Effect<void> | undefined = undefined
  get reader(): Effect.Effect<void> {
    return this.#reader ??= Effect.suspend(() => {
      const loop: Effect.Effect<void, TlsError> = this.readWanted.until(() => this.requested > this.fed).pipe(
        Effect.zipRight(Effect.suspend(() => this.transport.read)),
        Effect.flatMap((chunk) => {
          this.feedEngine(chunk)
          return this.inputEnded ? Effect.void : loop
        })
      )
      return Effect.catchAll(loop, this.inputFailed)
    })
  }

  /** A chunk (or the end) taken from the transport goes to the engine in the same step. */
  private feedEngine(chunk: Option.Option<Uint8Array>): void {
    this.fed++
    if (Option.isSome(chunk)) {
      if (chunk.value.length > 0) this.engine.feed(chunk.value)
    } else {
      this.inputEnded = true
      this.engine.feedEnd()
    }
    this.inputArrived.signal()
  }

  /** One chunk (or the end) the transport holds now goes to the engine; false if it holds none. */
  private feedFromTransport(immediate: Immediate): boolean {
    const chunk = immediate.tryRead()
    if (chunk === undefined) return false
    this.feedEngine(chunk)
    return true
  }

  /** The transport failed while reading. */
  #inputFailed: ((e: TlsError) => Effect.Effect<void>) | undefined = undefined
  private get inputFailed(): (e: TlsError) => Effect.Effect<void> {
    return this.#inputFailed ??= (e) =>
      Effect.sync(() => {
        this.inputFailure ??= e
        this.breakWith(e)
        this.inputArrived.signal()
      })
  }

  /**
   * A transport that answers at once has input, or failed (recorded).
   * Closing the connection closes the transport, which ends this wait.
   */
  #transportReadable: Effect.Effect<void> | undefined = undefined
  private get transportReadable(): Effect.Effect<void> {
    return this.#transportReadable ??= Effect.catchAll(this.immediate!.readable, this.inputFailed)
  }

  /**
   * Input for an operation whose Want came when `seen` reads had been fed:
   * returns at once if input arrived since, else reads one chunk and feeds
   * it. With a transport that answers at once (`immediate`) the caller
   * takes a chunk already there itself, in one step (so an interrupt
   * cannot split taking from feeding), and otherwise waits until there is
   * one; else the reader fiber reads it (a read already asked for counts).
   */
  private fill(seen: number, operation: Operation): Effect.Effect<void, TlsConnectionError> {
    return Effect.suspend(() => {
      if (this.fed !== seen) return Effect.void
      if (this.inputFailure !== undefined) return Effect.fail(this.inputFailure)
      if (this.inputEnded) {
        return Effect.fail(new TlsUnexpectedEof({ phase: operation === "handshake" ? "handshake" : "read" }))
      }
      if (this.state._tag === "Closed") return Effect.fail(new TlsClosedError({ operation }))
      const immediate = this.immediate
      if (immediate !== undefined) {
        if (this.feedFromTransport(immediate)) return Effect.void
        return Effect.zipRight(this.transportReadable, this.fill(seen, operation))
      }
      if (this.requested === this.fed) {
        this.requested++
        this.readWanted.signal()
      }
      // Once one of them holds, the checks above decide.
      return Effect.zipRight(
        this.inputArrived.until(() => this.fed !== seen || this.inputFailure !== undefined || this.state._tag === "Closed"),
        this.fill(seen, operation)
      )
    })
  }

  // The flusher.

  /**
   * With an engine that reports its output (`onOutput`) and a transport
   * that accepts at once (`immediate`), ciphertext goes to the transport
   * in the step that produced it, and the flusher only takes over a batch
   * the transport had no room for. Re-entrant calls (draining can make
   * the engine produce more) are folded into the running one.
   */
  private flushing = false
  private flushAgain = false
  readonly flushNow = (): void => {
    const immediate = this.immediate
    if (immediate === undefined) {
      this.outboxReady.signal()
      // The engine's writability may have changed: writers re-check.
      this.flushed.signal()
      return
    }
    if (this.flushing) {
      this.flushAgain = true
      return
    }
    this.flushing = true
    try {
      do {
        this.flushAgain = false
        if (this.unsent !== undefined || this.outputFailure !== undefined) return
        const batch = this.takeBatch()
        if (batch === undefined) continue
        if (!immediate.tryWrite(batch)) {
          // No room (or the transport failed): the flusher waits for it.
          this.unsent = batch
          if (this.startFlusher !== undefined && this.state._tag !== "Closed") {
            const start = this.startFlusher
            this.startFlusher = undefined
            start()
          }
          this.outboxReady.signal()
          return
        }
      } while (this.flushAgain)
      this.flushed.signal()
    } finally {
      this.flushing = false
    }
  }

  /** The flusher: writes what could not be handed over at once, or everything when the engine cannot report output. */
  #flusher: Effect.Effect<void> | undefined = undefined
  get flusher(): Effect.Effect<void> {
    return this.#flusher ??= Effect.suspend(() => {
      const flushOutbox: Effect.Effect<void, TlsError> = Effect.suspend(() => {
        const batch = this.unsent ?? this.takeBatch()
        if (batch === undefined) {
          this.flushed.signal()
          return Effect.void
        }
        this.unsent = batch
        return Effect.zipRight(
          this.transport.write(batch),
          Effect.suspend(() => {
            this.unsent = undefined
            this.flushed.signal()
            return flushOutbox
          })
        )
      })
      const reported = this.engine.onOutput !== undefined
      const wait: Effect.Effect<void> = reported
        ? this.outboxReady.until(() =>
          this.unsent !== undefined || (this.immediate === undefined && this.engine.pendingOutgoing() > 0)
        )
        : Effect.suspend(() => this.engine.outgoingReady)
      const loop: Effect.Effect<never, TlsError> = Effect.zipRight(
        Effect.zipRight(wait, flushOutbox),
        Effect.suspend(() => loop)
      )
      // A failed transport write ends the write side only: what the peer
      // sent before it went away (a response, its close_notify) stays
      // readable. Writes and shutdown fail with this error from now on.
      return Effect.catchAll(loop, (e) =>
        Effect.sync(() => {
          this.outputFailure = e
          // A handshake cannot go on without its output.
          if (this.state._tag === "Handshaking") this.breakWith(e)
          this.flushed.signal()
        }))
    })
  }

  /** Everything the engine has produced, as one batch (one transport write); `undefined` when nothing. */
  private takeBatch(): Uint8Array | undefined {
    const chunks = this.engine.drain()
    // One transport write per batch: records are small, syscalls are not.
    const batch = chunks.length === 1 ? chunks[0]! : concat(chunks)
    return batch.length === 0 ? undefined : batch
  }

  /** Bytes produced by the engine that the transport has not accepted yet. */
  private unflushed(): number {
    return (this.unsent?.length ?? 0) + this.engine.pendingOutgoing()
  }

  /** Completes once the transport accepted everything the engine produced so far. */
  #allFlushed: Effect.Effect<void, TlsError> | undefined = undefined
  private get allFlushed(): Effect.Effect<void, TlsError> {
    return this.#allFlushed ??= Effect.suspend(() =>
      Effect.zipRight(
        this.flushed.until(() => this.unflushed() === 0 || this.outputFailure !== undefined),
        Effect.suspend(() => (this.outputFailure === undefined ? Effect.void : Effect.fail(this.outputFailure)))
      )
    )
  }

  /** After TlsWantWrite: the engine is writable again (the flusher drains it), or output failed. */
  #writable: Effect.Effect<void, TlsError> | undefined = undefined
  private get writable(): Effect.Effect<void, TlsError> {
    return this.#writable ??= Effect.suspend(() => {
      const engine = this.engineImmediate
      // An engine that reports its output and answers at once is waited for
      // on `flushed` alone (it reports every change of writability as
      // output); any other is raced with the end of output.
      const wait = engine !== undefined && this.engine.onOutput !== undefined
        ? this.flushed.until(() =>
          engine.writable() || this.outputFailure !== undefined || this.state._tag === "Closed" ||
          this.state._tag === "Broken"
        )
        : Effect.raceFirst(
          this.engine.writable,
          this.flushed.until(() => this.outputFailure !== undefined || this.state._tag === "Closed")
        )
      return Effect.zipRight(
        wait,
        Effect.suspend(() =>
          this.outputFailure !== undefined
            ? Effect.fail(this.outputFailure)
            : this.state._tag === "Closed"
            ? Effect.fail(new TlsClosedError({ operation: "write" }))
            : Effect.void
        )
      )
    })
  }

  // Operations.

  /**
   * Run an engine operation to completion. `restore` marks the waits that
   * may be interrupted when the caller runs it uninterruptibly (`write`).
   */
  drive<A, E extends TlsWant | TlsError>(
    op: Effect.Effect<A, E>,
    operation: Operation,
    restore: Restore = unrestricted,
    since?: number
  ): Effect.Effect<A, E | TlsConnectionError> {
    return Effect.suspend(() => {
      // Input fed from `since` on arrived after the operation started.
      const start = since ?? this.fed
      // The first attempt runs bare: no policy, no closure, until a Want.
      return Effect.catchIf(op, isWant<E>, (want) => this.retrying(op, operation, restore, start, want))
    })
  }

  /** After a Want: the I/O it asks for, then the operation again, under the policy. */
  private retrying<A, E extends TlsWant | TlsError>(
    op: Effect.Effect<A, E>,
    operation: Operation,
    restore: Restore,
    start: number,
    first: TlsWant
  ): Effect.Effect<A, E | TlsConnectionError> {
    let schedule: Schedule.ScheduleDriver<unknown, TlsWant> | undefined
    let retries = 0
    const limit = this.retryLimit
    // A `recurs` policy is counted here; any other is stepped as a Schedule.
    const step = (want: TlsWant): Effect.Effect<unknown, unknown> =>
      limit !== undefined
        ? (retries++ < limit ? Effect.void : Effect.fail(want))
        : schedule === undefined
        ? Effect.flatMap(Schedule.driver(this.policy), (driver) => {
          schedule = driver
          return driver.next(want)
        })
        : schedule.next(want)
    const onWant = (want: TlsWant): Effect.Effect<A, E | TlsConnectionError> => {
      const seen = this.fed
      if (want._tag === "TlsWantRead" && operation === "read" && seen === start) {
        // Nothing has arrived since this read started: it is waiting for
        // the peer, which is not a retry.
        return Effect.zipRight(restore(this.fill(seen, operation)), attempt)
      }
      // The policy decides first: no I/O is done for a retry that never comes.
      return restore(step(want)).pipe(
        Effect.catchAll(() => this.giveUp(want)),
        Effect.zipRight(restore(want._tag === "TlsWantRead" ? this.fill(seen, operation) : this.writable)),
        Effect.zipRight(attempt)
      )
    }
    const attempt: Effect.Effect<A, E | TlsConnectionError> = Effect.catchIf(op, isWant<E>, onWant)
    return onWant(first)
  }

  /** The policy gave up: the engine may hold a partial record, so the connection breaks. */
  private giveUp(want: TlsWant): Effect.Effect<never, TlsWant | TlsTimeoutError> {
    return Effect.suspend(() => {
      const bound = RetryPolicy.timeBound(this.policy)
      const error = Option.isNone(bound) ? want : new TlsTimeoutError({
        phase: want.operation === "handshake" ? "handshake" : want.operation === "read" ? "read" : "write",
        millis: Duration.toMillis(bound.value)
      })
      this.breakWith(error)
      return Effect.fail(error)
    })
  }

  /** Why `operation` cannot run now, if it cannot. */
  private refusal(operation: string, allowed: (s: State) => boolean): TlsConnectionError | undefined {
    if (this.expiredWith !== undefined) return this.expiredWith
    const s = this.state
    if (s._tag === "Broken") return s.error
    if (!allowed(s)) return new TlsClosedError({ operation })
    if (operation !== "read" && this.outputFailure !== undefined) return this.outputFailure
    return undefined
  }

  private guarded<A>(
    operation: string,
    allowed: (s: State) => boolean,
    op: Effect.Effect<A, TlsConnectionError>
  ): Effect.Effect<A, TlsConnectionError> {
    return Effect.suspend(() => {
      const refused = this.refusal(operation, allowed)
      if (refused !== undefined) return Effect.fail(refused)
      return Effect.catchAll(op, this.failWith)
    })
  }

  /** A call failed with `e`: it is the connection's sticky error (or the expiry, once expired). */
  #failWith: ((e: TlsConnectionError) => Effect.Effect<never, TlsConnectionError>) | undefined = undefined
  private get failWith(): (e: TlsConnectionError) => Effect.Effect<never, TlsConnectionError> {
    return this.#failWith ??= (e) => {
      this.breakWith(e)
      return Effect.fail(this.expiredWith ?? e)
    }
  }

  /** A write's `cause`, reported as the expiry once the connection expired (an interruption stays one). */
  private expiredCause(cause: Cause.Cause<TlsConnectionError>): Effect.Effect<never, TlsConnectionError> {
    return this.expiredWith !== undefined && Option.isSome(Cause.failureOption(cause))
      ? Effect.fail(this.expiredWith)
      : Effect.failCause(cause)
  }

  /**
   * Expire the connection (its idle deadline passed): `error` becomes the
   * answer of every pending and later call, and the connection is closed
   * abortively.
   */
  expire(error: TlsConnectionError): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.expiredWith ??= error
      this.breakWith(error)
      return this.abort
    })
  }

  /** Record a failure as the connection's sticky error. */
  breakWith(e: TlsConnectionError): void {
    if (e._tag === "TlsClosedError" && e.reason === undefined) return
    // A failed transport write is sticky for the write side only.
    if (e === this.outputFailure && this.state._tag !== "Handshaking") return
    if (this.state._tag === "Closed" || this.state._tag === "Broken") return
    this.state = { _tag: "Broken", error: e }
    // Wake every waiter so that it sees the new state.
    this.inputArrived.signal()
    this.flushed.signal()
  }

  /**
   * A read: plaintext the engine already holds is returned in one step;
   * when it holds none and the transport holds a chunk, that chunk is fed
   * (the one transport read its TlsWantRead would ask for) and the engine
   * asked again. When the transport holds nothing either, the read is
   * waiting for the peer (never a retry): it waits for the transport and
   * starts over, without the full path's policy and bookkeeping. Everything
   * else (a record still partial after a chunk, a state other than open)
   * takes the full path (`drive`).
   */
  #read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> | undefined = undefined
  get read(): Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> {
    return this.#read ??= Effect.suspend(() => this.readStep())
  }

  private readStep(): Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> {
    const since = this.fed
    const engine = this.engineImmediate
    const immediate = this.immediate
    if (engine !== undefined && (this.state._tag === "Open" || this.state._tag === "Closing") && !this.peerClosed) {
      let answer = engine.tryRead()
      if (answer === "wantRead" && immediate !== undefined && this.inputFailure === undefined && !this.inputEnded) {
        if (this.feedFromTransport(immediate)) answer = engine.tryRead()
        else return this.awaitPeer
      }
      if (answer instanceof Uint8Array) {
        telemetry.received(answer.length)
        this.completed?.()
        return Effect.succeed(Option.some(answer))
      }
    }
    return this.fullRead(since)
  }

  /** The transport has input (or failed: recorded), then the read starts over. */
  #awaitPeer: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> | undefined = undefined
  private get awaitPeer(): Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> {
    return this.#awaitPeer ??= Effect.zipRight(this.transportReadable, this.read)
  }

  private fullRead(since: number): Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> {
    return this.guarded(
      "read",
      (s) => s._tag === "Open" || s._tag === "Closing",
      Effect.suspend(() => {
        if (this.peerClosed) return Effect.succeed(Option.none())
        const read = this.drive(this.engine.read, "read", unrestricted, since)
        return Effect.tap(this.allowTruncation ? Effect.catchIf(read, isTruncation, endOfStream) : read, (chunk) => {
          if (Option.isNone(chunk)) this.peerClosed = true
          else telemetry.received(chunk.value.length)
          this.completed?.()
        })
      })
    )
  }

  /**
   * A write the engine takes whole at once, with nobody else writing, is
   * one step (nothing to interrupt, nothing to order); every other write
   * takes the write lock for its whole length (`writeWhole`).
   */
  write(data: Uint8Array | string): Effect.Effect<void, TlsConnectionError> {
    return Effect.suspend(() => {
      const bytes = typeof data === "string" ? utf8Encode(data) : data
      const engine = this.engineImmediate
      if (
        engine !== undefined && bytes.length > 0 && this.state._tag === "Open" && this.outputFailure === undefined &&
        this.writeLock.isFree()
      ) {
        if (engine.tryWrite(bytes)) {
          telemetry.sent(bytes.length)
          this.completed?.()
          return Effect.void
        }
        // No room now: wait for it and try whole again (`roomWrite`), when
        // the policy counts its retries and the engine reports its output.
        const limit = this.retryLimit
        if (limit !== undefined && limit > 0 && this.engine.onOutput !== undefined && this.writeLock.tryAcquire()) {
          return this.roomWrite(bytes, engine, limit)
        }
      }
      return this.lockedWrite(bytes)
    })
  }

  /**
   * A write the engine had no room for, holding the write lock (taken by
   * the caller): each wait until the engine is writable is one retry of
   * the policy, then the engine is asked to take the write whole again.
   * Nothing of `bytes` is taken before the step that takes all of it, so
   * interrupting the wait leaves nothing behind. A write the engine still
   * refuses while writable is too large to take whole: `writeWhole` takes
   * it in parts.
   */
  private roomWrite(bytes: Uint8Array, engine: EngineImmediate, limit: number): Effect.Effect<void, TlsConnectionError> {
    let retries = 0
    return Effect.uninterruptibleMask((restore) => {
      const attempt: Effect.Effect<boolean, TlsConnectionError> = Effect.suspend(() => {
        const refused = this.refusal("write", isOpen)
        if (refused !== undefined) return Effect.fail(refused)
        if (engine.tryWrite(bytes)) {
          telemetry.sent(bytes.length)
          return Effect.succeed(true)
        }
        if (engine.writable()) return Effect.succeed(false)
        return retry
      })
      const retry: Effect.Effect<boolean, TlsConnectionError> = Effect.suspend(() =>
        retries++ < limit
          ? Effect.zipRight(restore(this.writable), attempt)
          : this.giveUp(want.write.write)
      )
      return Effect.matchCauseEffect(retry, {
        onSuccess: (done) => {
          if (!done) return this.writeWhole(bytes, restore)
          this.writeLock.release()
          this.completed?.()
          return Effect.void
        },
        onFailure: (cause) => {
          this.writeFailed(cause)
          return this.expiredCause(cause)
        }
      })
    })
  }

  /** A write holding the lock ended in `cause`: the lock is released, and a failure becomes the connection's (true). */
  private writeFailed(cause: Cause.Cause<TlsConnectionError>): boolean {
    this.writeLock.release()
    const failure = Cause.failureOption(cause)
    if (Option.isNone(failure)) return false
    this.breakWith(failure.value)
    return true
  }

  private lockedWrite(bytes: Uint8Array): Effect.Effect<void, TlsConnectionError> {
    return Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        if (bytes.length === 0) {
          const refused = this.refusal("write", isOpen)
          if (refused !== undefined) return Effect.fail(refused)
          this.completed?.()
          return Effect.void
        }
        // The state is checked once the lock is held (writeWhole). Uncontended, the lock costs no Effect at all.
        if (this.writeLock.tryAcquire()) return this.writeWhole(bytes, restore)
        return Effect.zipRight(this.writeLock.acquire(restore), this.writeWhole(bytes, restore))
      })
    )
  }

  /** Runs uninterruptibly except for its waits, holding the write lock; releases it. */
  private writeWhole(bytes: Uint8Array, restore: Restore): Effect.Effect<void, TlsConnectionError> {
    return Effect.suspend(() => {
      const refused = this.refusal("write", isOpen)
      if (refused !== undefined) {
        this.writeLock.release()
        return Effect.fail(refused)
      }
      let offset = 0
      const loop: Effect.Effect<void, TlsConnectionError> = Effect.suspend(() =>
        offset >= bytes.length
          ? Effect.void
          : Effect.flatMap(this.drive(this.engine.write(bytes.subarray(offset)), "write", restore), (n) => {
            offset += n
            telemetry.sent(n)
            return loop
          })
      )
      // Already uninterruptible: a plain match is enough to release the
      // lock and record a failure or a cut-off write on every way out.
      return Effect.matchCauseEffect(loop, {
        onSuccess: () => {
          this.writeLock.release()
          this.completed?.()
          return Effect.void
        },
        onFailure: (cause) => {
          if (!this.writeFailed(cause) && Cause.isInterrupted(cause) && offset > 0 && offset < bytes.length) {
            this.breakWith(
              new TlsClosedError({ operation: "write", reason: "WriteInterrupted", written: offset, size: bytes.length })
            )
          }
          return this.expiredCause(cause)
        }
      })
    })
  }

  /** close_notify, every byte flushed, then end of the transport's write side. Holds the write lock. */
  #sendCloseNotify: Effect.Effect<void, TlsConnectionError> | undefined = undefined
  private get sendCloseNotify(): Effect.Effect<void, TlsConnectionError> {
    return this.#sendCloseNotify ??= Effect.suspend(() => {
      this.state = { _tag: "Closing" }
      return this.drive(this.engine.shutdown, "shutdown").pipe(
        Effect.zipRight(this.allFlushed),
        Effect.zipRight(this.transport.end)
      )
    })
  }

  #shutdown: Effect.Effect<void, TlsConnectionError> | undefined = undefined
  get shutdown(): Effect.Effect<void, TlsConnectionError> {
    return this.#shutdown ??= this.guarded(
      "shutdown",
      (s) => s._tag === "Open" || s._tag === "Closing",
      this.writeLock.with(Effect.suspend(() => {
        const s = this.state
        if (s._tag === "Broken") return Effect.fail(s.error)
        if (s._tag !== "Open") return Effect.void
        return this.sendCloseNotify
      })).pipe(Effect.zipLeft(Effect.sync(() => this.completed?.())))
    )
  }

  /** The farewell on close: close_notify when healthy, else only what is already encrypted. */
  #farewell: Effect.Effect<void, TlsConnectionError> | undefined = undefined
  private get farewell(): Effect.Effect<void, TlsConnectionError> {
    return this.#farewell ??= this.writeLock.with(
      Effect.suspend(() => {
        const s = this.state
        if (s._tag === "Open" || s._tag === "Closing") return this.sendCloseNotify
        return this.allFlushed
      })
    )
  }

  /** Release everything, after the farewell (bounded by the close grace). */
  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.state._tag === "Closed") return Effect.void
      const wasHealthy = this.state._tag === "Open" || this.state._tag === "Closing"
      // Finalizers run uninterruptibly; the farewell alone is made
      // interruptible so that the grace period can cut it short when the
      // peer stopped reading and the flush cannot complete.
      return Effect.zipRight(
        this.absorbArrived(wasHealthy),
        deadline.within(Effect.asSome(Effect.interruptible(this.farewell)), this.closeGrace, () => Effect.succeedNone)
      ).pipe(
        Effect.flatMap((done) => {
          const left = this.unflushed()
          if (Option.isSome(done) || (left === 0 && !wasHealthy)) return Effect.void
          return Effect.logWarning(
            `TLS close was abortive: the transport did not accept ${left} bytes of ciphertext within ${
              Duration.format(this.closeGrace)
            }${wasHealthy ? "; close_notify may not have been sent" : ""}`
          ).pipe(Effect.annotateLogs("exit", exit._tag))
        }),
        Effect.ignore,
        Effect.ensuring(this.release),
        Effect.uninterruptible
      )
    })
  }

  /**
   * On close, hand the engine what the transport already holds (without
   * waiting for more), for an engine that reports sessions: TLS 1.3
   * tickets come after the handshake, and a client that never read would
   * otherwise close without them. Only where callers read the transport
   * themselves (no reader fiber feeds it meanwhile). Then the engine reads
   * until it wants more input (plaintext is dropped), which is when a
   * library that works after the call (Bun's) has taken in what was fed;
   * bounded by the close grace.
   */
  private absorbArrived(wasHealthy: boolean): Effect.Effect<void> {
    const immediate = this.immediate
    if (!wasHealthy || immediate === undefined || this.engine.onSession === undefined || this.inputEnded) {
      return Effect.void
    }
    let fed = false
    for (let chunk = immediate.tryRead(); chunk !== undefined && Option.isSome(chunk); chunk = immediate.tryRead()) {
      if (chunk.value.length === 0) continue
      this.engine.feed(chunk.value)
      fed = true
    }
    if (!fed) return Effect.void
    const taken = Effect.ignore(Effect.repeat(this.engine.read, { while: Option.isSome }))
    return Effect.ignore(deadline.within(Effect.interruptible(taken), this.closeGrace, () => Effect.void))
  }

  /** Closed from now on: the fibers stop, the transport and the engine are released. */
  #release: Effect.Effect<void> | undefined = undefined
  private get release(): Effect.Effect<void> {
    return this.#release ??= Effect.suspend(() => {
      if (this.counted) {
        this.counted = false
        telemetry.closed()
      }
      this.state = { _tag: "Closed" }
      this.inputArrived.signal()
      this.flushed.signal()
      return Fiber.interruptAll(this.fibers).pipe(
        Effect.zipRight(this.transport.close),
        Effect.zipRight(this.engine.destroy)
      )
    })
  }

  /** Abortive close: no farewell, no grace; bytes not yet taken by the transport are dropped. */
  #abort: Effect.Effect<void> | undefined = undefined
  get abort(): Effect.Effect<void> {
    return this.#abort ??= Effect.uninterruptible(
      Effect.suspend(() => (this.state._tag === "Closed" ? Effect.void : this.release))
    )
  }
}

/** @internal */
export const make = (
  engine: TlsEngine,
  transport: Transport,
  options: ResolvedClient | ResolvedServer
): Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> =>
  Effect.gen(function*() {
    const driver = new Driver(engine, transport, options.retryPolicy, options.closeGrace, options.allowTruncation)
    const scope = yield* Effect.scope
    const runtime = yield* deadline.connectionRuntime
    if (engine.onOutput !== undefined && transport.immediate !== undefined) {
      // Output goes to the transport in the step that produced it: a
      // flusher is only needed once the transport has no room, and is
      // started then (most connections never need one).
      driver.startFlusher = () => {
        driver.fibers.push(Runtime.runFork(runtime)(driver.flusher))
      }
    } else {
      driver.fibers.push(yield* Effect.forkIn(driver.flusher, scope))
    }
    // A transport that answers at once is read by the callers themselves.
    if (transport.immediate === undefined) driver.fibers.push(yield* Effect.forkIn(driver.reader, scope))
    if (engine.onOutput !== undefined) {
      engine.onOutput(driver.flushNow)
      // Whatever the engine produced before it had a listener.
      driver.flushNow()
    }
    // Key log lines go to the sink the options name (none by default).
    const keylogSettled = options.keylog === undefined ? undefined : yield* secrets.attachKeylog(engine, options.keylog)
    // Added after the fibers, so it runs before they are interrupted.
    yield* Scope.addFinalizerExit(scope, (exit) => driver.close(exit))
    const millis = Duration.toMillis(options.handshakeTimeout)
    // One error: the connection's sticky error and the handshake's failure are the same.
    let timeout: TlsTimeoutError | undefined
    const timedOut = () => timeout ??= new TlsTimeoutError({ phase: "handshake", millis })
    // One timer, no fiber: when it fires the connection breaks (its
    // transport is closed, which wakes the handshake's waits) and the
    // handshake fails with the timeout.
    yield* deadline.breakingAfter(
      driver.drive(engine.handshake, "handshake"),
      options.handshakeTimeout,
      () => {
        driver.breakWith(timedOut())
        Runtime.runFork(runtime)(driver.abort)
      },
      timedOut
    ).pipe(
      Effect.tapError((e) => Effect.sync(() => driver.breakWith(e))),
      // A handshake that did not complete releases the transport at once
      // rather than when the caller's scope closes.
      Effect.onExit((exit) => (exit._tag === "Failure" ? driver.close(exit) : Effect.void))
    )
    driver.state = { _tag: "Open" }
    driver.counted = true
    telemetry.opened()
    // The handshake's key log lines are with the sink before the connection is handed out.
    if (keylogSettled !== undefined) yield* keylogSettled
    const info: ConnectionInfo = yield* engine.info
    // `shutdown` and `abort` are built when first run: most connections
    // never shut down by themselves.
    const connection = withStreams({
      info,
      remoteAddress: transport.remoteAddress,
      read: driver.read,
      write: (data) => driver.write(data),
      shutdown: Effect.suspend(() => driver.shutdown),
      abort: Effect.suspend(() => driver.abort),
      exportKeyingMaterial: secrets.exporter(engine, () => {
        const s = driver.state
        return s._tag === "Broken"
          ? s.error
          : s._tag === "Closed"
          ? new TlsClosedError({ operation: "exportKeyingMaterial" })
          : undefined
      })
    })
    // Not enumerable: a wrapper spread from the connection is not the driver's.
    Object.defineProperty(connection, kDriver, { value: driver })
    return connection
  })

const kDriver = Symbol("effect-tls/TlsConnection/driver")
interface Driven {
  [kDriver]?: Driver
}

/**
 * What a deadline outside the driver needs of a connection this module
 * made (`undefined` for any other): news of each completed call, and a way
 * to expire it.
 * @internal
 */
export interface Lifecycle {
  /** Told, in the same step, each time a read, write or shutdown completes (one listener). */
  completed: (() => void) | undefined
  /** `error` becomes the answer of every pending and later call; the connection is closed abortively. */
  expire(error: TlsConnectionError): Effect.Effect<void>
}

/** @internal */
export const lifecycle = (connection: TlsConnection): Lifecycle | undefined => (connection as Driven)[kDriver]

/**
 * A connection from its operations. It is a plain object with every member
 * its own, so that `{ ...connection, write }` (a wrapper) keeps all of
 * them; `stream` and `sink` are built from `read` and `write` when first
 * used (most connections never use them).
 * @internal
 */
export const withStreams = (operations: Omit<TlsConnection, "stream" | "sink">): TlsConnection => {
  let stream: TlsConnection["stream"] | undefined
  let sink: TlsConnection["sink"] | undefined
  return {
    ...operations,
    get stream() {
      return stream ??= Stream.repeatEffectOption(
        operations.read.pipe(
          Effect.mapError(Option.some),
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(Option.none()),
            onSome: (chunk) => Effect.succeed(chunk)
          }))
        )
      )
    },
    get sink() {
      return sink ??= Sink.forEachChunk((chunk: Chunk.Chunk<Uint8Array>) =>
        Effect.forEach(chunk, (bytes) => operations.write(bytes), { discard: true })
      )
    }
  }
}
