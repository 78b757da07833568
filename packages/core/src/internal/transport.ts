/** @internal */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { TlsTransportError } from "../TlsError.js"
import { concat } from "./bytes.js"
import * as Readiness from "../Readiness.js"
import type { NativeNews, NativeNewsTransport } from "../TlsRuntime.js"
import type { Immediate, MemoryOptions, Transport } from "../Transport.js"

/**
 * One direction of an in-memory pipe: a bounded byte queue with an end.
 * `write` waits for room before it accepts anything, so an interrupted
 * write accepted nothing; `read` takes bytes in the step that returns them.
 * @internal
 */
export class Pipe {
  private chunks: Array<Uint8Array> = []
  private bytes = 0
  private ended = false
  private readerGone = false
  /** Bytes arrived or the write side ended. */
  private readonly readable = Readiness.make()
  /** Room was made, or the reader went away. */
  private readonly writable = Readiness.make()

  constructor(readonly capacity: number) {}

  /** Bytes or the end now, else undefined. */
  tryRead(): Option.Option<Uint8Array> | undefined {
    if (this.bytes > 0) return Option.some(this.take())
    return this.ended ? Option.none() : undefined
  }

  /** Completes once there are bytes, the end, or the reader went away. */
  readonly untilReadable: Effect.Effect<void> = this.readable.until(() =>
    this.bytes > 0 || this.ended || this.readerGone
  )

  private take(): Uint8Array {
    const chunks = this.chunks
    this.chunks = []
    const total = this.bytes
    this.bytes = 0
    this.writable.signal()
    return chunks.length === 1 ? chunks[0]! : concat(chunks, total)
  }

  /** Accept all of `bytes` now if there is room; `owned`: the caller gives the buffer up. */
  tryWrite(bytes: Uint8Array, owned: boolean): boolean {
    if (this.readerGone || this.ended || this.bytes >= this.capacity) return false
    if (bytes.length === 0) return true
    // Copy unless given: the caller may reuse its buffer once write completes.
    this.chunks.push(owned ? bytes : bytes.slice())
    this.bytes += bytes.length
    this.readable.signal()
    return true
  }

  write(bytes: Uint8Array): Effect.Effect<void, TlsTransportError> {
    return Effect.suspend(() => {
      if (this.readerGone) return Effect.fail(new TlsTransportError({ reason: "Reset", code: "EPIPE" }))
      if (this.ended) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
      if (this.tryWrite(bytes, false)) return Effect.void
      return Effect.zipRight(
        this.writable.until(() => this.bytes < this.capacity || this.readerGone || this.ended),
        this.write(bytes)
      )
    })
  }

  end(): void {
    this.ended = true
    this.readable.signal()
    this.writable.signal()
  }

  closeReader(): void {
    this.readerGone = true
    this.chunks = []
    this.bytes = 0
    this.writable.signal()
    this.readable.signal()
  }
}

/**
 * A `read` made of a transport's `immediate`: a chunk taken at once, or a
 * wait on `readable` and again. It ends, as `readable` does, when the
 * transport fails or is closed.
 * @internal
 */
export const readThrough = (immediate: Immediate): Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> => {
  const read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> = Effect.suspend(() => {
    const chunk = immediate.tryRead()
    return chunk !== undefined ? Effect.succeed(chunk) : Effect.zipRight(immediate.readable, read)
  })
  return read
}

const NEWS: Option.Option<Uint8Array> = Option.some(new Uint8Array(0))

/** @internal */
class NativeNewsImpl implements NativeNews {
  /** Events so far, and their count when the engine last answered a Want. */
  count = 0
  wantedAt = 0
  readonly event = Readiness.make()

  note(): void {
    this.count++
    this.event.signal()
  }

  wanted(): void {
    this.wantedAt = this.count
  }

  transport(options: NativeNewsTransport): Transport {
    return new NewsTransport(this, options)
  }
}

/** A transport that carries no bytes, only news (see `NativeNews`). */
class NewsTransport implements Transport, Immediate {
  readonly remoteAddress: string | undefined
  constructor(private readonly news: NativeNewsImpl, private readonly options: NativeNewsTransport) {
    this.remoteAddress = options.remoteAddress
  }
  get immediate(): Immediate {
    return this
  }
  /** News since the engine's last Want (taken), else nothing yet. */
  tryRead(): Option.Option<Uint8Array> | undefined {
    const news = this.news
    if (news.count === news.wantedAt) return undefined
    news.wantedAt = news.count
    return NEWS
  }
  #readable: Effect.Effect<void, TlsTransportError> | undefined = undefined
  get readable(): Effect.Effect<void, TlsTransportError> {
    const news = this.news
    return this.#readable ??= Effect.zipRight(
      news.event.until(() => news.count !== news.wantedAt || this.options.isClosed()),
      Effect.suspend(() =>
        news.count !== news.wantedAt ? Effect.void : Effect.fail(new TlsTransportError({ reason: "Closed" }))
      )
    )
  }
  #read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> | undefined = undefined
  get read(): Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> {
    return this.#read ??= readThrough(this)
  }
  tryWrite(): boolean {
    return true
  }
  write(): Effect.Effect<void> {
    return Effect.void
  }
  get end(): Effect.Effect<void> {
    return this.options.end
  }
  /** Releases the socket, and wakes a read waiting for news (it fails: closed). */
  #close: Effect.Effect<void> | undefined = undefined
  get close(): Effect.Effect<void> {
    return this.#close ??= Effect.ensuring(this.options.close, Effect.sync(() => this.news.event.signal()))
  }
}

/** @internal */
export const makeNativeNews = (): NativeNews => new NativeNewsImpl()

const endpoint = (incoming: Pipe, outgoing: Pipe, name: string): Transport => {
  let closed = false
  const immediate: Immediate = {
    tryRead: () => (closed ? undefined : incoming.tryRead()),
    readable: Effect.zipRight(
      incoming.untilReadable,
      Effect.suspend(() => (closed ? Effect.fail(new TlsTransportError({ reason: "Closed" })) : Effect.void))
    ),
    tryWrite: (bytes) => !closed && outgoing.tryWrite(bytes, true)
  }
  return {
    remoteAddress: name,
    // A read waiting here ends when this end is closed, too.
    read: readThrough(immediate),
    immediate,
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
