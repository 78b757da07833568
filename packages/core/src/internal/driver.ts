/**
 * The driver: joins a sans-IO engine to a transport.
 *
 * Theory of operation (trio's SSLStream, in Effect):
 *
 * - Every operation (handshake, read, write, shutdown) is tried on the
 *   engine first. If it fails with a Want error the driver lets the
 *   RetryPolicy decide whether to try again, and if so does exactly the I/O
 *   that the Want asks for before the retry:
 *     TlsWantRead  -> read ONE chunk from the transport and feed it (or
 *                     feed end-of-input); the pump below flushes what the
 *                     engine wrote meanwhile;
 *     TlsWantWrite -> flush the outgoing BIO.
 *   A retry therefore always follows progress, and when the policy gives up
 *   the last Want error reaches the caller unchanged.
 * - Transport reads are serialized by `readLock`. A fiber that finds the
 *   lock taken waits for it, then skips its own read if another fiber fed
 *   the engine in the meantime (`fed` changed): its retry will see that
 *   data. Flushes are serialized by `writeLock`, which keeps ciphertext in
 *   order.
 * - A pump fiber flushes whenever the engine reports outgoing ciphertext
 *   (engines backed by asynchronous libraries produce it after the call
 *   that caused it), so `write` only has to hand plaintext to the engine.
 *   Backpressure: the engine answers TlsWantWrite while its outgoing BIO is
 *   over its bound, and a flush waits for the transport's bounded buffer.
 * - The connection has an explicit state. A TLS or transport failure moves
 *   it to Broken, and every later call fails with that same error (sticky
 *   errors). Closing the scope sends close_notify if the connection is
 *   healthy, then releases the transport and the engine.
 */
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"
import * as RetryPolicy from "../RetryPolicy.js"
import type { TlsConnection, TlsConnectionError } from "../TlsConnection.js"
import type { ConnectionInfo, TlsEngine } from "../TlsEngine.js"
import {
  isTlsWant,
  TlsClosedError,
  type TlsError,
  TlsTimeoutError,
  type TlsWant
} from "../TlsError.js"
import type { ResolvedClient, ResolvedServer } from "../TlsOptions.js"
import type { Transport } from "../Transport.js"
import { concat, utf8Encode } from "./bytes.js"

type State =
  | { readonly _tag: "Handshaking" }
  | { readonly _tag: "Open" }
  | { readonly _tag: "Closing" }
  | { readonly _tag: "Closed" }
  | { readonly _tag: "Broken"; readonly error: TlsError }

const CLOSE_GRACE = Duration.seconds(5)

const isWant = <E>(e: E): e is E & TlsWant => isTlsWant(e)

class Driver {
  state: State = { _tag: "Handshaking" }
  peerClosed = false
  /** Counts feeds into the engine; see the theory of operation. */
  fed = 0
  readonly readLock = Effect.unsafeMakeSemaphore(1)
  readonly writeLock = Effect.unsafeMakeSemaphore(1)

  constructor(
    readonly engine: TlsEngine,
    readonly transport: Transport,
    readonly policy: RetryPolicy.RetryPolicy
  ) {}

  /** Write every pending byte of the outgoing BIO to the transport, in order. */
  readonly flush: Effect.Effect<void, TlsError> = this.writeLock.withPermits(1)(
    Effect.suspend(() => this.flushPending)
  )

  private readonly flushPending: Effect.Effect<void, TlsError> = Effect.suspend(() => {
    const chunks = this.engine.drain()
    if (chunks.length === 0) return Effect.void
    // One transport write per flush: records are small, syscalls are not.
    return this.transport.write(chunks.length === 1 ? chunks[0]! : concat(chunks)).pipe(
      Effect.zipRight(this.flushPending)
    )
  })

  /**
   * Read one chunk from the transport into the engine. What we owe the peer
   * is flushed by the pump, never here: a reader that flushed could block
   * on transport backpressure, and when both peers' readers do that at once
   * neither reads again (a deadlock the full-duplex property found).
   */
  private fill(seen: number): Effect.Effect<void, TlsError> {
    return this.readLock.withPermits(1)(
      Effect.suspend(() => {
        if (this.fed !== seen) return Effect.void
        return this.transport.read.pipe(
          Effect.map((chunk) => {
            this.fed++
            if (Option.isSome(chunk)) this.engine.feed(chunk.value)
            else this.engine.feedEnd()
          })
        )
      })
    )
  }

  /**
   * Run an engine operation to completion under the RetryPolicy. The first
   * attempt runs bare; a schedule driver is made only once a Want occurs,
   * so the common case (data ready, buffer free) costs no schedule at all.
   */
  drive<A, E extends TlsWant | TlsError>(op: Effect.Effect<A, E>): Effect.Effect<A, E | TlsError> {
    return Effect.suspend(() => {
      const seen = this.fed
      return Effect.catchIf(op, isWant<E>, (want) =>
        Effect.flatMap(Schedule.driver(this.policy), (driver) => this.retry(op, driver, want, seen)))
    })
  }

  /** Do the I/O `want` asks for, then ask the policy whether to try again. */
  private retry<A, E extends TlsWant | TlsError>(
    op: Effect.Effect<A, E>,
    driver: Schedule.ScheduleDriver<unknown, TlsWant>,
    want: TlsWant,
    seen: number
  ): Effect.Effect<A, E | TlsError> {
    const io = want._tag === "TlsWantRead" ? this.fill(seen) : this.flush
    // The policy decides first: a time bound counts from the first Want, and
    // when the policy gives up no I/O is done for a retry that never comes.
    return Effect.catchAll(driver.next(want), () => Effect.fail(this.exhausted(want) as E | TlsError)).pipe(
      Effect.zipRight(io),
      Effect.zipRight(Effect.suspend(() => {
        const next = this.fed
        return Effect.catchIf(op, isWant<E>, (again) => this.retry(op, driver, again, next))
      }))
    )
  }

  /**
   * What the caller gets when the policy gives up: the last Want, or
   * TlsTimeoutError when the policy is time-bounded (`RetryPolicy.within`).
   */
  private exhausted(want: TlsWant): TlsWant | TlsTimeoutError {
    const bound = RetryPolicy.timeBound(this.policy)
    if (Option.isNone(bound)) return want
    const phase = want.operation === "handshake" ? "handshake" : want.operation === "read" ? "read" : "write"
    return new TlsTimeoutError({ phase, millis: Duration.toMillis(bound.value) })
  }

  /** Fail at once if the state forbids `operation`; record TLS failures as sticky. */
  guard<A>(
    operation: string,
    allowed: (s: State) => boolean,
    op: Effect.Effect<A, TlsConnectionError>
  ): Effect.Effect<A, TlsConnectionError> {
    return Effect.suspend(() => {
      const s = this.state
      if (s._tag === "Broken") return Effect.fail(s.error)
      if (!allowed(s)) return Effect.fail(new TlsClosedError({ operation }))
      return Effect.tapError(op, (e) => this.breakWith(e))
    })
  }

  breakWith(e: TlsConnectionError): Effect.Effect<void> {
    return Effect.sync(() => {
      if (isTlsWant(e) || e._tag === "TlsClosedError") return
      if (this.state._tag !== "Closed" && this.state._tag !== "Broken") this.state = { _tag: "Broken", error: e }
    })
  }

  readonly pump: Effect.Effect<never> = Effect.forever(
    Effect.zipRight(
      Effect.suspend(() => this.engine.outgoingReady),
      Effect.catchAll(this.flush, (e) => this.breakWith(e))
    )
  ).pipe(Effect.zipRight(Effect.never))

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsConnectionError> = this.guard(
    "read",
    (s) => s._tag === "Open" || s._tag === "Closing",
    Effect.suspend(() =>
      this.peerClosed
        ? Effect.succeed(Option.none())
        : this.drive(this.engine.read).pipe(
          Effect.tap((chunk) => {
            if (Option.isNone(chunk)) this.peerClosed = true
          })
        )
    )
  )

  write(data: Uint8Array | string): Effect.Effect<void, TlsConnectionError> {
    const bytes = typeof data === "string" ? utf8Encode(data) : data
    const loop = (offset: number): Effect.Effect<void, TlsConnectionError> =>
      offset >= bytes.length
        ? Effect.void
        : Effect.flatMap(this.drive(this.engine.write(bytes.subarray(offset))), (n) => loop(offset + n))
    return this.guard("write", (s) => s._tag === "Open", Effect.suspend(() => loop(0)))
  }

  readonly shutdown: Effect.Effect<void, TlsConnectionError> = Effect.suspend(() => {
    if (this.state._tag === "Closing") return Effect.void
    return this.guard(
      "shutdown",
      (s) => s._tag === "Open",
      Effect.suspend(() => {
        this.state = { _tag: "Closing" }
        return this.drive(this.engine.shutdown).pipe(
          Effect.zipRight(this.flush),
          Effect.zipRight(this.transport.end)
        )
      })
    )
  })

  /** Release everything. Sends close_notify first when the connection is healthy. */
  close(exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const s = this.state
      if (s._tag === "Closed") return Effect.void
      const farewell = s._tag === "Open"
        ? this.shutdown
        : s._tag === "Handshaking" || s._tag === "Broken"
        // A failed handshake may have left an alert for the peer: send it.
        ? this.flush
        : Effect.void
      // Finalizers run uninterruptibly; the farewell alone is made
      // interruptible so that the grace period can cut it short when the
      // peer stopped reading and the flush cannot complete.
      return Effect.interruptible(farewell).pipe(
        Effect.timeout(CLOSE_GRACE),
        Effect.ignore,
        Effect.ensuring(
          Effect.suspend(() => {
            this.state = { _tag: "Closed" }
            return Effect.zipRight(this.transport.close, this.engine.destroy)
          })
        ),
        Effect.uninterruptible
      )
    }).pipe(Effect.annotateLogs("exit", exit._tag))
  }
}

/** @internal */
export const make = (
  engine: TlsEngine,
  transport: Transport,
  options: ResolvedClient | ResolvedServer
): Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope> =>
  Effect.gen(function*() {
    const driver = new Driver(engine, transport, options.retryPolicy)
    const scope = yield* Effect.scope
    yield* Scope.addFinalizerExit(scope, (exit) => driver.close(exit))
    yield* Effect.forkIn(driver.pump, scope)
    const millis = Duration.toMillis(options.handshakeTimeout)
    yield* driver.drive(engine.handshake).pipe(
      Effect.timeoutFail({
        duration: options.handshakeTimeout,
        onTimeout: () => new TlsTimeoutError({ phase: "handshake", millis })
      }),
      Effect.tapError((e) => driver.breakWith(e)),
      // A handshake that did not complete releases the transport at once
      // rather than when the caller's scope closes.
      Effect.onExit((exit) => (exit._tag === "Failure" ? driver.close(exit) : Effect.void))
    )
    driver.state = { _tag: "Open" }
    const info: ConnectionInfo = yield* engine.info
    const connection: TlsConnection = {
      info,
      remoteAddress: transport.remoteAddress,
      read: driver.read,
      write: (data) => driver.write(data),
      shutdown: driver.shutdown,
      stream: Stream.repeatEffectOption(
        driver.read.pipe(
          Effect.mapError(Option.some),
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(Option.none()),
            onSome: (chunk) => Effect.succeed(chunk)
          }))
        )
      ),
      sink: Sink.forEachChunk((chunk: Chunk.Chunk<Uint8Array>) =>
        Effect.forEach(chunk, (bytes) => driver.write(bytes), { discard: true })
      )
    }
    return connection
  })
