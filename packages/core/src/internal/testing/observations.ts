/**
 * What the test engines record about how they were driven.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Readiness from "../../Readiness.js"
import type { ConnectionInfo } from "../../TlsEngine.js"
import type { EngineStats } from "../../testing.js"

/** @internal */
export type Operation = "handshake" | "read" | "write" | "shutdown"

/**
 * Mutable counters behind `EngineStats`, with the bookkeeping that detects
 * an operation retried without progress.
 * @internal
 */
export class Recorder {
  readonly stats: {
    -readonly [K in keyof EngineStats]: EngineStats[K] extends Readonly<Record<Operation, number>>
      ? Record<Operation, number>
      : EngineStats[K]
  } = {
    calls: { handshake: 0, read: 0, write: 0, shutdown: 0 },
    wantReads: 0,
    wantWrites: 0,
    feeds: 0,
    bytesFed: 0,
    feedEnds: 0,
    drains: 0,
    retriesWithoutInput: 0,
    retriesWithoutDrain: 0,
    destroyed: false
  }
  /** Operations whose last answer was TlsWantRead, with no input since. */
  private starvedRead = new Set<Operation>()
  /** Operations whose last answer was TlsWantWrite, with no drain since. */
  private starvedWrite = new Set<Operation>()

  call(op: Operation): void {
    this.stats.calls[op]++
    if (this.starvedRead.has(op)) this.stats.retriesWithoutInput++
    if (this.starvedWrite.has(op)) this.stats.retriesWithoutDrain++
    this.starvedRead.delete(op)
    this.starvedWrite.delete(op)
  }

  wantRead(op: Operation): void {
    this.stats.wantReads++
    this.starvedRead.add(op)
  }

  wantWrite(op: Operation): void {
    this.stats.wantWrites++
    this.starvedWrite.add(op)
  }

  fed(bytes: number): void {
    this.stats.feeds++
    this.stats.bytesFed += bytes
    this.starvedRead.clear()
  }

  fedEnd(): void {
    this.stats.feedEnds++
    this.starvedRead.clear()
  }

  drained(): void {
    this.stats.drains++
    this.starvedWrite.clear()
  }
}

/** A queue of outgoing ciphertext with readiness for both ends. @internal */
export class Outbox {
  private chunks: Array<Uint8Array> = []
  bytes = 0
  /** Pushed or taken. */
  private readonly changed = Readiness.make()

  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return
    this.chunks.push(bytes)
    this.bytes += bytes.length
    this.changed.signal()
  }

  take(): ReadonlyArray<Uint8Array> {
    const out = this.chunks
    this.chunks = []
    this.bytes = 0
    this.changed.signal()
    return out
  }

  readonly ready: Effect.Effect<void> = this.changed.until(() => this.bytes > 0)

  /** Completes once fewer than `bound` bytes wait. */
  below(bound: number): Effect.Effect<void> {
    return this.changed.until(() => this.bytes < bound)
  }
}

/** @internal */
export const info = (role: "client" | "server", protocol: string): ConnectionInfo => ({
  role,
  protocol,
  cipher: "none",
  alpnProtocol: Option.none(),
  servername: Option.none(),
  authorized: false,
  peerCertificate: Option.none(),
  peerCertificateChain: [],
  sessionReused: false
})

/**
 * Wrap any engine so that its use by the driver is recorded. Answers are
 * passed through unchanged.
 * @internal
 */
export const observe = (inner: import("../../TlsEngine.js").TlsEngine) => {
  const recorder = new Recorder()
  const track = <A, E>(op: Operation, effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.suspend(() => {
      recorder.call(op)
      return Effect.tapError(effect, (e) =>
        Effect.sync(() => {
          const tag = (e as { readonly _tag?: string } | undefined)?._tag
          if (tag === "TlsWantRead") recorder.wantRead(op)
          else if (tag === "TlsWantWrite") recorder.wantWrite(op)
        }))
    })
  const engine: import("../../TlsEngine.js").TlsEngine = {
    role: inner.role,
    feed: (ciphertext) => {
      recorder.fed(ciphertext.length)
      inner.feed(ciphertext)
    },
    feedEnd: () => {
      recorder.fedEnd()
      inner.feedEnd()
    },
    drain: () => {
      recorder.drained()
      return inner.drain()
    },
    pendingOutgoing: () => inner.pendingOutgoing(),
    outgoingReady: inner.outgoingReady,
    writable: inner.writable,
    handshake: track("handshake", inner.handshake),
    read: track("read", inner.read),
    write: (plaintext) => track("write", inner.write(plaintext)),
    shutdown: track("shutdown", inner.shutdown),
    info: inner.info,
    destroy: Effect.zipRight(Effect.sync(() => {
      recorder.stats.destroyed = true
    }), inner.destroy)
  }
  return { engine, stats: recorder.stats }
}
