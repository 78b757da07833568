/**
 * In-memory transports with faults: writes cut into pieces, pieces
 * delivered late (on the Effect Clock), input that ends, resets or stalls
 * after a given number of bytes.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type { Faults, FaultyPairOptions, FaultyTransport, TransportStats } from "../../testing.js"
import * as Readiness from "../../Readiness.js"
import { TlsTransportError } from "../../TlsError.js"

interface Piece {
  readonly bytes: Uint8Array
  /** Clock time (ms) from which the reader may take it. */
  readonly at: number
}

/** One direction. @internal */
class FaultyPipe {
  private queue: Array<Piece> = []
  private queued = 0
  private ended = false
  private readerGone = false
  /** Bytes accepted for delivery so far (bytes past a cut are dropped). */
  private accepted = 0
  private lastAt = Number.NEGATIVE_INFINITY
  private pieceIndex = 0
  /** Pieces queued, or the write side ended. */
  private readonly readable = Readiness.make()
  /** Pieces taken, or the reader went away. */
  private readonly writable = Readiness.make()
  private readonly sizes: ReadonlyArray<number>
  private readonly delays: ReadonlyArray<number>
  private readonly cut: { readonly at: number; readonly kind: "end" | "reset" | "stall" } | undefined

  constructor(readonly capacity: number, faults: Faults) {
    this.sizes = (faults.chunkSizes ?? []).map((n) => Math.max(1, Math.floor(n)))
    this.delays = (faults.delays ?? []).map((d) => Math.max(0, Duration.toMillis(Duration.decode(d))))
    const cuts = [
      faults.endAfter === undefined ? undefined : { at: faults.endAfter, kind: "end" as const },
      faults.resetAfter === undefined ? undefined : { at: faults.resetAfter, kind: "reset" as const },
      faults.stallAfter === undefined ? undefined : { at: faults.stallAfter, kind: "stall" as const }
    ].filter((c) => c !== undefined).sort((x, y) => x.at - y.at)
    this.cut = cuts[0]
  }

  private get isCut(): boolean {
    return this.cut !== undefined && this.accepted >= this.cut.at
  }

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> = Effect.suspend(() => {
    const head = this.queue[0]
    if (head !== undefined) {
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (head.at > now) return Effect.zipRight(Effect.sleep(Duration.millis(head.at - now)), this.read)
        this.queue.shift()
        this.queued -= head.bytes.length
        this.writable.signal()
        return Effect.succeed(Option.some(head.bytes))
      })
    }
    if (this.isCut) {
      switch (this.cut!.kind) {
        case "end":
          return Effect.succeed(Option.none())
        case "reset":
          return Effect.fail(new TlsTransportError({ reason: "Reset", code: "ECONNRESET" }))
        case "stall":
          return Effect.never
      }
    }
    if (this.ended) return Effect.succeed(Option.none())
    return Effect.zipRight(this.readable.until(() => this.queue.length > 0 || this.ended || this.isCut), this.read)
  })

  write(bytes: Uint8Array): Effect.Effect<void, TlsTransportError> {
    return Effect.suspend(() => {
      if (this.readerGone) return Effect.fail(new TlsTransportError({ reason: "Reset", code: "EPIPE" }))
      if (this.ended) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
      if (bytes.length === 0) return Effect.void
      if (this.queued >= this.capacity) {
        return Effect.zipRight(
          this.writable.until(() => this.queued < this.capacity || this.readerGone || this.ended),
          this.write(bytes)
        )
      }
      return Effect.map(Clock.currentTimeMillis, (now) => this.enqueue(bytes, now))
    })
  }

  private enqueue(bytes: Uint8Array, now: number) {
    let rest = bytes
    if (this.cut !== undefined) rest = rest.subarray(0, Math.max(0, this.cut.at - this.accepted))
    for (let offset = 0; offset < rest.length;) {
      const size = this.sizes.length === 0 ? rest.length : this.sizes[this.pieceIndex % this.sizes.length]!
      const delay = this.delays.length === 0 ? 0 : this.delays[this.pieceIndex % this.delays.length]!
      this.pieceIndex++
      // Copy: the writer may reuse its buffer once write completes.
      const piece = rest.slice(offset, offset + size)
      offset += piece.length
      // In order: a piece is never readable before the one ahead of it.
      this.lastAt = Math.max(this.lastAt, now + delay)
      this.queue.push({ bytes: piece, at: this.lastAt })
      this.queued += piece.length
    }
    this.accepted += rest.length
    this.readable.signal()
  }

  end(): void {
    this.ended = true
    this.readable.signal()
    this.writable.signal()
  }

  closeReader(): void {
    this.readerGone = true
    this.queue = []
    this.queued = 0
    this.writable.signal()
  }
}

const endpoint = (incoming: FaultyPipe, outgoing: FaultyPipe, name: string): FaultyTransport => {
  const stats: { -readonly [K in keyof TransportStats]: TransportStats[K] } = {
    reads: 0,
    bytesRead: 0,
    writes: 0,
    bytesWritten: 0,
    ended: false,
    closed: false
  }
  const closedError = new TlsTransportError({ reason: "Closed" })
  return {
    remoteAddress: name,
    stats,
    read: Effect.suspend(() =>
      stats.closed
        ? Effect.fail(closedError)
        : Effect.tap(incoming.read, (chunk) => {
          stats.reads++
          if (Option.isSome(chunk)) stats.bytesRead += chunk.value.length
        })
    ),
    write: (bytes) =>
      Effect.suspend(() =>
        stats.closed
          ? Effect.fail(closedError)
          : Effect.tap(outgoing.write(bytes), () => {
            stats.writes++
            stats.bytesWritten += bytes.length
          })
      ),
    end: Effect.sync(() => {
      stats.ended = true
      outgoing.end()
    }),
    close: Effect.sync(() => {
      if (stats.closed) return
      stats.closed = true
      outgoing.end()
      incoming.closeReader()
    })
  }
}

/** @internal */
export const makePair = (
  options: FaultyPairOptions = {}
): Effect.Effect<readonly [FaultyTransport, FaultyTransport], never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const capacity = options.capacity ?? 256 * 1024
      const aToB = new FaultyPipe(capacity, options.aToB ?? {})
      const bToA = new FaultyPipe(capacity, options.bToA ?? {})
      return [endpoint(bToA, aToB, "faulty:b"), endpoint(aToB, bToA, "faulty:a")] as const
    }),
    ([a, b]) => Effect.zipRight(a.close, b.close)
  )
