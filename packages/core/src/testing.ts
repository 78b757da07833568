/**
 * A test kit for programs built on effect-tls: engines whose every step is
 * scripted and observable, in-memory transports that misbehave on demand,
 * and a runner that drives the `TestClock` until a program completes (or
 * proves it never will).
 *
 * Everything here works with `it.effect` from `@effect/vitest` and with
 * fast-check properties (`it.effect.prop`): time is virtual, delays are
 * `Effect.sleep`s that `TestClock.adjust` (or `runVirtual`) drives.
 *
 * ```ts
 * import { RetryPolicy } from "@effect-tls/core"
 * import * as Testing from "@effect-tls/core/testing"
 *
 * // In an `it.effect` test: a handshake of 3 round trips, each answer
 * // 10 ms late, under a policy allowing 2 retries.
 * const { engine, stats } = Testing.scriptedEngine({ handshakeRounds: 3 })
 * const [ours, peer] = yield* Testing.makeFaultyPair({ bToA: { delays: ["10 millis"] } })
 * yield* Effect.forkScoped(Testing.answerFlights(peer))
 * const exit = yield* Testing.runVirtual(
 *   Effect.scoped(Testing.connect(engine, ours, { retryPolicy: RetryPolicy.recurs(2) }))
 * )
 * // exit: Some(Exit.fail(TlsWantRead)), stats.wantReads === 3
 * ```
 *
 * @since 0.2.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as FastCheck from "effect/FastCheck"
import type * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { TestServices } from "effect/TestServices"
import { utf8Encode } from "./internal/bytes.js"
import * as arbitrary from "./internal/testing/arbitraries.js"
import * as framed from "./internal/testing/framedEngine.js"
import * as observations from "./internal/testing/observations.js"
import * as faulty from "./internal/testing/faultyTransport.js"
import * as run from "./internal/testing/run.js"
import * as clientHelloBytes from "./internal/testing/clientHello.js"
import * as scripted from "./internal/testing/scriptedEngine.js"
import type { RetryPolicy } from "./RetryPolicy.js"
import type { TlsConnection } from "./TlsConnection.js"
import type { TlsEngine } from "./TlsEngine.js"
import type { TlsError, TlsTransportError, TlsWant } from "./TlsError.js"
import type { Transport } from "./Transport.js"

// ---------------------------------------------------------------------------
// Engines
// ---------------------------------------------------------------------------

/**
 * What a test engine saw of the driver. Counters only grow; read them after
 * (or while) the program runs.
 *
 * @since 0.2.0
 * @category models
 */
export interface EngineStats {
  /** How many times each operation was called (first attempts and retries). */
  readonly calls: Readonly<Record<"handshake" | "read" | "write" | "shutdown", number>>
  /** `TlsWantRead` answers given. */
  readonly wantReads: number
  /** `TlsWantWrite` answers given. */
  readonly wantWrites: number
  /** Calls of `feed`, and the bytes they carried. */
  readonly feeds: number
  readonly bytesFed: number
  /** Calls of `feedEnd`. */
  readonly feedEnds: number
  /** Calls of `drain`. */
  readonly drains: number
  /**
   * Calls of an operation whose previous answer was `TlsWantRead` while no
   * input (`feed` or `feedEnd`) arrived in between: a retry without
   * progress, i.e. a busy loop. Always 0 under a correct driver (with one
   * caller per operation at a time).
   */
  readonly retriesWithoutInput: number
  /** The same for `TlsWantWrite` and `drain`. */
  readonly retriesWithoutDrain: number
  /** Whether `destroy` was called. */
  readonly destroyed: boolean
}

/**
 * A test engine and what it observes.
 *
 * @since 0.2.0
 * @category models
 */
export interface TestEngine {
  readonly engine: TlsEngine
  readonly stats: EngineStats
}

/**
 * One outcome of `read` on a scripted engine.
 *
 * - `WantRead`: `read` fails with `TlsWantRead` until one chunk of input
 *   has been fed (then the script moves on); `TlsUnexpectedEof` when input
 *   ends first.
 * - `Plaintext`: `read` succeeds with these bytes.
 * - `Alert`: `read` fails with `TlsAlertError` (received), and keeps failing.
 * - `Close`: the peer's close_notify: `read` succeeds with `None`, and keeps
 *   doing so.
 *
 * After the last step, every `read` needs more input, forever.
 *
 * @since 0.2.0
 * @category models
 */
export type ScriptStep =
  | { readonly _tag: "WantRead" }
  | { readonly _tag: "Plaintext"; readonly bytes: Uint8Array }
  | { readonly _tag: "Alert"; readonly alert: string }
  | { readonly _tag: "Close" }

/**
 * Constructors of `ScriptStep`.
 *
 * @since 0.2.0
 * @category constructors
 */
export const Step = {
  wantRead: { _tag: "WantRead" } as ScriptStep,
  plaintext: (data: Uint8Array | string): ScriptStep => ({
    _tag: "Plaintext",
    bytes: typeof data === "string" ? utf8Encode(data) : data
  }),
  alert: (alert: string): ScriptStep => ({ _tag: "Alert", alert }),
  close: { _tag: "Close" } as ScriptStep
} as const

/**
 * Options of `scriptedEngine`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ScriptedEngineOptions {
  /** Default `"client"`. */
  readonly role?: "client" | "server" | undefined
  /**
   * Round trips the handshake needs (default 0). Each round sends a flight
   * (`"flight i\n"`) and needs one chunk of input; the handshake answers
   * `TlsWantRead` until then, `TlsUnexpectedEof` if input ends.
   */
  readonly handshakeRounds?: number | undefined
  /** What successive `read`s see once the handshake is done. */
  readonly reads?: ReadonlyArray<ScriptStep> | undefined
  /**
   * `write` answers `TlsWantWrite` while this many bytes of outgoing
   * ciphertext wait to be drained. Default: never.
   */
  readonly outgoingBound?: number | undefined
}

/**
 * An engine that replays a script: the handshake takes `handshakeRounds`
 * round trips, then each `read` gives the next `ScriptStep`. `write` is the
 * identity (the peer's transport sees the plaintext), so a test can play
 * the peer with plain transport reads and writes. Deterministic: the same
 * script and the same input give the same answers.
 *
 * @since 0.2.0
 * @category engines
 */
export const scriptedEngine: (options?: ScriptedEngineOptions) => TestEngine = scripted.make

/**
 * Options of `framedEngine`.
 *
 * @since 0.2.0
 * @category models
 */
export interface FramedEngineOptions {
  readonly role: "client" | "server"
  /**
   * Round trips of the handshake (default 1; 0 for none). Both sides of a
   * pair must agree. The client sends flight 1; the server answers each
   * flight i, and the client sends flight i + 1 until round k is answered.
   */
  readonly handshakeRounds?: number | undefined
  /** Plaintext bytes per record, at most 16384 (the default). */
  readonly maxRecord?: number | undefined
  /** Bytes `write` takes per call (partial writes); default all of them. */
  readonly maxWrite?: number | undefined
  /** `write` and `shutdown` answer `TlsWantWrite` while this many bytes wait to be drained. Default 256 KiB. */
  readonly outgoingBound?: number | undefined
  /** Server: answer flight `rejectAtRound` with a fatal alert instead. */
  readonly rejectAtRound?: number | undefined
  /** The alert sent at `rejectAtRound`; default `handshake_failure`. */
  readonly rejectWith?: string | undefined
}

/**
 * A toy TLS engine that talks to another one: records of
 * `[type][length u16][payload]` (handshake, application data, alert), a
 * handshake of k round trips, close_notify, fatal alerts, truncation
 * (`TlsUnexpectedEof`). No cryptography. Input may be cut anywhere: a
 * partial record waits for the rest (`TlsWantRead`).
 *
 * @since 0.2.0
 * @category engines
 */
export const framedEngine: (options: FramedEngineOptions) => TestEngine = framed.make

/**
 * Ciphertext a framed peer would send: application data, an alert (or
 * `close_notify`), a server's handshake flight. For tests that play the
 * peer of a `framedEngine` by hand.
 *
 * @since 0.2.0
 * @category engines
 */
export const framedRecords: {
  readonly data: (plaintext: Uint8Array) => Uint8Array
  readonly alert: (name: string) => Uint8Array
  readonly handshake: (round: number) => Uint8Array
} = { data: framed.encodeData, alert: framed.encodeAlert, handshake: framed.encodeHandshake }

/**
 * Wrap any engine (a runtime's real one included) so that the driver's use
 * of it is recorded in `EngineStats`; answers pass through unchanged.
 *
 * @since 0.2.0
 * @category engines
 */
export const observeEngine: (engine: TlsEngine) => TestEngine = observations.observe

// ---------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------

/**
 * Faults of one direction of a faulty pipe. Bytes always arrive in order
 * and exactly once (up to a cut); only their timing and chunking change.
 *
 * @since 0.2.0
 * @category models
 */
export interface Faults {
  /**
   * Each write is cut into pieces of these sizes, taken in turn (cycling
   * over the list across writes); each piece is one transport read. Empty
   * or absent: one piece per write.
   */
  readonly chunkSizes?: ReadonlyArray<number> | undefined
  /**
   * Piece i becomes readable `delays[i mod n]` after it was written (but
   * never before the piece ahead of it). Measured on the Effect Clock: under
   * `TestClock` nothing arrives until the clock is moved.
   */
  readonly delays?: ReadonlyArray<Duration.DurationInput> | undefined
  /** After this many bytes the reader sees end of input (the rest is dropped). */
  readonly endAfter?: number | undefined
  /** After this many bytes reads fail with `TlsTransportError` `Reset`. */
  readonly resetAfter?: number | undefined
  /** After this many bytes reads never complete. */
  readonly stallAfter?: number | undefined
}

/**
 * Options of `makeFaultyPair`: faults per direction. `aToB` is what the
 * first transport writes and the second reads.
 *
 * @since 0.2.0
 * @category models
 */
export interface FaultyPairOptions {
  /** Bytes a direction holds before `write` suspends. Default 256 KiB. */
  readonly capacity?: number | undefined
  readonly aToB?: Faults | undefined
  readonly bToA?: Faults | undefined
}

/**
 * What one end of a faulty pipe saw.
 *
 * @since 0.2.0
 * @category models
 */
export interface TransportStats {
  /** Reads that completed (with a chunk or end of input), and their bytes. */
  readonly reads: number
  readonly bytesRead: number
  /** Writes that completed, and their bytes. */
  readonly writes: number
  readonly bytesWritten: number
  /** Whether `end` was called. */
  readonly ended: boolean
  /** Whether `close` was called (the transport was released). */
  readonly closed: boolean
}

/**
 * A transport with its observations.
 *
 * @since 0.2.0
 * @category models
 */
export interface FaultyTransport extends Transport {
  readonly stats: TransportStats
}

/**
 * Two transports joined back to back, like `Transport.makeMemoryPair`,
 * with faults per direction. Both are closed when the scope closes.
 *
 * @since 0.2.0
 * @category transports
 */
export const makeFaultyPair: (
  options?: FaultyPairOptions
) => Effect.Effect<readonly [FaultyTransport, FaultyTransport], never, Scope.Scope> = faulty.makePair

/**
 * Play the peer of a `scriptedEngine` handshake: answer every chunk read
 * from `transport` with one reply chunk, `rounds` times (default: until end
 * of input).
 *
 * @since 0.2.0
 * @category transports
 */
export const answerFlights = (
  transport: Transport,
  rounds: number = Number.POSITIVE_INFINITY
): Effect.Effect<void, TlsTransportError> =>
  Effect.suspend(() => {
    const loop = (i: number): Effect.Effect<void, TlsTransportError> =>
      i >= rounds
        ? Effect.void
        : Effect.flatMap(transport.read, (chunk) =>
          Option.isNone(chunk)
            ? Effect.void
            : Effect.zipRight(transport.write(new Uint8Array([0x72, 0x65, 0x70, 0x6c, 0x79])), loop(i + 1)))
    return loop(0)
  })

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

/**
 * Options of `connect`.
 *
 * @since 0.2.0
 * @category models
 */
export interface ConnectOptions {
  /** Default `RetryPolicy.defaultPolicy`. */
  readonly retryPolicy?: RetryPolicy | undefined
  /** Default one hour (virtual time makes it free). */
  readonly handshakeTimeout?: Duration.DurationInput | undefined
  /** Default 5 seconds, as for real connections. */
  readonly closeGrace?: Duration.DurationInput | undefined
}

/**
 * Run the driver's handshake of any engine (a test engine, or a runtime's
 * real one) over any transport, and return the connection. The engine's
 * role is its own; no certificate options are involved.
 *
 * @since 0.2.0
 * @category running
 */
export const connect: (
  engine: TlsEngine,
  transport: Transport,
  options?: ConnectOptions
) => Effect.Effect<TlsConnection, TlsError | TlsWant, Scope.Scope> = run.connect

/**
 * Options of `runVirtual`.
 *
 * @since 0.2.0
 * @category models
 */
export interface VirtualOptions {
  /** Clock moves before giving up. Default 10,000. */
  readonly maxSteps?: number | undefined
}

/**
 * Run `self` on the TestClock: move the clock to the next pending sleep,
 * again and again, until `self` completes. `None` when it cannot complete:
 * no sleep is pending and no fiber makes progress (a deadlock, or a stall
 * with no timeout), or `maxSteps` ran out; `self` is then interrupted.
 *
 * @since 0.2.0
 * @category running
 */
export const runVirtual: <A, E, R>(
  self: Effect.Effect<A, E, R>,
  options?: VirtualOptions
) => Effect.Effect<Option.Option<Exit.Exit<A, E>>, never, R | TestServices> = run.runVirtual

/**
 * Run `self` and report the fibers it started that are still running when
 * it has completed (there should be none: everything a connection forks is
 * scoped).
 *
 * @since 0.2.0
 * @category running
 */
export const trackFibers: <A, E, R>(
  self: Effect.Effect<A, E, R>
) => Effect.Effect<readonly [Exit.Exit<A, E>, ReadonlyArray<Fiber.RuntimeFiber<unknown, unknown>>], never, R> =
  run.trackFibers

// ---------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------

/**
 * fast-check arbitraries (from `effect/FastCheck`) for properties over the
 * kit: handshake rounds, fault schedules, and payloads whose bytes depend
 * on their position (so loss, duplication and reordering show) and which
 * shrink as two integers.
 *
 * @since 0.2.0
 * @category arbitraries
 */
export const arbitraries: {
  /** 0 to 10. */
  readonly rounds: FastCheck.Arbitrary<number>
  /** Up to 4 delays in milliseconds, mostly 0. */
  readonly delays: FastCheck.Arbitrary<Array<number>>
  /** Up to 4 piece sizes, 1 to `max` (default 64). */
  readonly chunkSizes: (max?: number) => FastCheck.Arbitrary<Array<number>>
  /** Chunk sizes and delays of one direction. */
  readonly faults: (maxChunk?: number) => FastCheck.Arbitrary<Faults>
  /** 1 to `maxLength` (default 300) bytes. */
  readonly message: (maxLength?: number) => FastCheck.Arbitrary<Uint8Array>
} = arbitrary

// ---------------------------------------------------------------------------
// ClientHellos and replayed input
// ---------------------------------------------------------------------------

/**
 * What `clientHello` puts in a ClientHello. Absent fields are left out of
 * the hello (no such extension).
 *
 * @since 0.2.0
 * @category client hello
 */
export interface ClientHelloFields {
  /** server_name (SNI). */
  readonly servername?: string | undefined
  /** Offered ALPN protocols, in order. */
  readonly alpn?: ReadonlyArray<string> | undefined
  /** supported_versions (0x0304 = TLS 1.3). */
  readonly versions?: ReadonlyArray<number> | undefined
  /** supported_groups. */
  readonly groups?: ReadonlyArray<number> | undefined
  /** Groups of the key_share entries (each with a 32-byte placeholder key). */
  readonly keyShares?: ReadonlyArray<number> | undefined
  readonly signatureAlgorithms?: ReadonlyArray<number> | undefined
  /** Default `[0x1301, 0x1302]`. */
  readonly cipherSuites?: ReadonlyArray<number> | undefined
  readonly sessionId?: ReadonlyArray<number> | undefined
  /** Bytes of padding (extension 21), to make large hellos. */
  readonly padding?: number | undefined
  /** The TLS 1.2 form without an extensions block. */
  readonly noExtensions?: boolean | undefined
  /** Raw extension bytes appended as given. */
  readonly raw?: ReadonlyArray<number> | undefined
}

/**
 * A ClientHello handshake message (its 4-byte header included), to test a
 * server's `SniResolver` / `AlpnSelector` without a TLS client: write
 * `clientHelloRecords(clientHelloMessage({ servername: "a.test" }))` into
 * one end of `Transport.makeMemoryPair()` and `Tls.upgrade` the other end
 * in the server role.
 *
 * @since 0.2.0
 * @category client hello
 */
export const clientHelloMessage: (fields?: ClientHelloFields) => Uint8Array = clientHelloBytes.helloMessage

/**
 * A handshake message framed into TLS records whose payloads have the given
 * sizes (the last size repeats; default: as few records as possible).
 *
 * @since 0.2.0
 * @category client hello
 */
export const clientHelloRecords: (message: Uint8Array, sizes?: ReadonlyArray<number>) => Uint8Array =
  clientHelloBytes.records

/**
 * `bytes` cut into pieces of the given sizes (the last size repeats).
 *
 * @since 0.2.0
 * @category transports
 */
export const split: (bytes: Uint8Array, sizes: ReadonlyArray<number>) => Array<Uint8Array> = clientHelloBytes.chunked

/**
 * A transport whose reads return `chunks` one by one, then end; writes are
 * accepted and dropped. `reads()` counts the reads so far.
 *
 * @since 0.2.0
 * @category transports
 */
export const replayTransport: (
  chunks: ReadonlyArray<Uint8Array>
) => Transport & { readonly reads: () => number } = clientHelloBytes.replay
