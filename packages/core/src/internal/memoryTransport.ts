/** @internal */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { TlsTransportError } from "../TlsError.js"
import { concat } from "./bytes.js"
import type { MemoryOptions, Transport } from "../Transport.js"

type Waiter = () => void

/**
 * One direction of an in-memory pipe: a bounded byte queue with an end.
 * @internal
 */
export class Pipe {
  private chunks: Array<Uint8Array> = []
  private bytes = 0
  private ended = false
  private readerGone = false
  private readers: Array<Waiter> = []
  private writers: Array<Waiter> = []

  constructor(readonly capacity: number) {}

  private wake(list: Array<Waiter>) {
    const waiting = list.splice(0)
    for (const w of waiting) w()
  }

  readonly read: Effect.Effect<Option.Option<Uint8Array>> = Effect.suspend(() => {
    if (this.bytes > 0) return Effect.succeed(Option.some(this.take()))
    if (this.ended) return Effect.succeed(Option.none())
    return Effect.zipRight(this.waitOn(this.readers), this.read)
  })

  private take(): Uint8Array {
    const chunks = this.chunks
    this.chunks = []
    const total = this.bytes
    this.bytes = 0
    this.wake(this.writers)
    return chunks.length === 1 ? chunks[0]! : concat(chunks, total)
  }

  /** Suspend until `list` is woken; an interrupted waiter removes itself. */
  private waitOn(list: Array<Waiter>): Effect.Effect<void> {
    return Effect.async<void>((resume) => {
      const waiter = () => resume(Effect.void)
      list.push(waiter)
      return Effect.sync(() => {
        const i = list.indexOf(waiter)
        if (i >= 0) list.splice(i, 1)
      })
    })
  }

  write(bytes: Uint8Array): Effect.Effect<void, TlsTransportError> {
    return Effect.suspend(() => {
      if (this.readerGone) return Effect.fail(new TlsTransportError({ reason: "Reset", code: "EPIPE" }))
      if (this.ended) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
      if (bytes.length === 0) return Effect.void
      if (this.bytes < this.capacity) {
        // Copy: the caller may reuse its buffer once write completes.
        this.chunks.push(bytes.slice())
        this.bytes += bytes.length
        this.wake(this.readers)
        return Effect.void
      }
      return Effect.zipRight(this.waitOn(this.writers), this.write(bytes))
    })
  }

  end(): void {
    this.ended = true
    this.wake(this.readers)
    this.wake(this.writers)
  }

  closeReader(): void {
    this.readerGone = true
    this.chunks = []
    this.bytes = 0
    this.wake(this.writers)
  }
}

const endpoint = (incoming: Pipe, outgoing: Pipe, name: string): Transport => {
  let closed = false
  return {
    remoteAddress: name,
    read: Effect.suspend(() =>
      closed ? Effect.fail(new TlsTransportError({ reason: "Closed" })) : incoming.read
    ),
    write: (bytes) =>
      closed ? Effect.fail(new TlsTransportError({ reason: "Closed" })) : outgoing.write(bytes),
    end: Effect.sync(() => outgoing.end()),
    close: Effect.sync(() => {
      if (closed) return
      closed = true
      outgoing.end()
      incoming.closeReader()
    })
  }
}

/** @internal */
export const makePair = (options?: MemoryOptions) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const capacity = options?.capacity ?? 256 * 1024
      const aToB = new Pipe(capacity)
      const bToA = new Pipe(capacity)
      return [endpoint(bToA, aToB, "memory:b"), endpoint(aToB, bToA, "memory:a")] as const
    }),
    ([a, b]) => Effect.zipRight(a.close, b.close)
  )
