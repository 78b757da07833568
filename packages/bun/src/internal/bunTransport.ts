/**
 * Transports over Bun's own sockets (`Bun.connect`, `Bun.listen`).
 *
 * Bun sockets push: `data` fires whenever bytes arrive, and `write` is
 * unbuffered (it returns how many bytes the kernel took). This adapter
 * makes them pull-based with bounded buffers in both directions, like
 * NodeTransport:
 *
 * - incoming chunks queue in the inbox; over READ_BOUND the socket is
 *   paused (Bun stops reading it, so TCP flow control reaches the peer)
 *   and `read` resumes it once the queue is taken;
 * - bytes the kernel did not take queue in the outbox and are written on
 *   `drain`; `write` suspends while more than WRITE_BOUND bytes wait.
 *
 * End of input: Bun calls `end` for the peer's FIN, but closes a socket
 * whose write side is already shut down without calling `end` first, so a
 * `close` without an error that we did not cause is an end of input too.
 *
 * @internal
 */
import type { Address } from "@effect-tls/core/Tls"
import { type Listener, type ListenOptions, ownedByScope } from "@effect-tls/core/TlsRuntime"
import { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Immediate, Transport } from "@effect-tls/core/Transport"
import * as Readiness from "@effect-tls/core/Readiness"
import { SocketInbox, SocketOutbox } from "./socketQueues.js"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"

/** Bytes of received data held for the reader before the socket is paused. */
const READ_BOUND = 256 * 1024
/** Bytes the kernel refused that may wait for `drain` before `write` suspends. */
const WRITE_BOUND = 1024 * 1024

const REASONS: Record<string, TlsTransportError["reason"]> = {
  ECONNRESET: "Reset",
  EPIPE: "Reset",
  ECONNREFUSED: "ConnectRefused",
  ENOTFOUND: "HostNotFound",
  EAI_AGAIN: "HostNotFound",
  EAI_NONAME: "HostNotFound"
}

/** @internal */
export const errorCode = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

/** @internal */
export const transportError = (reason: TlsTransportError["reason"], e: unknown): TlsTransportError => {
  const code = errorCode(e)
  const mapped = (code === undefined ? undefined : REASONS[code]) ?? reason
  // A connect can only be refused or fail: keep Reset for established sockets.
  const final = reason === "ConnectFailed" && mapped === "Reset" ? "ConnectFailed" : mapped
  return code === undefined
    ? new TlsTransportError({ reason: final, cause: e })
    : new TlsTransportError({ reason: final, code, cause: e })
}

/**
 * The per-socket state behind a transport. Bun's handlers are shared by
 * every socket of a listener, so each socket carries its own in `data`.
 * @internal
 */
export class SocketState implements Transport, Immediate {
  socket: Bun.Socket<SocketState> | undefined = undefined
  /** The peer, as "address:port", once the socket is open. */
  remoteAddress: string | undefined = undefined
  private readonly inbox = new SocketInbox(READ_BOUND)
  private readonly outbox = new SocketOutbox()
  private ended = false
  private closed = false
  private closedByUs = false
  private failure: TlsTransportError | undefined = undefined
  /** Any event of the socket. */
  private readonly events = Readiness.make()

  private wake() {
    this.events.signal()
  }

  private finished(): boolean {
    return this.failure !== undefined || this.closed || this.closedByUs
  }

  // Handlers, called by Bun.

  onOpen(socket: Bun.Socket<SocketState>) {
    this.socket = socket
    this.noteRemoteAddress()
    socket.setNoDelay(true)
  }

  noteRemoteAddress() {
    const s = this.socket
    if (this.remoteAddress === undefined && s !== undefined && s.remoteAddress !== undefined) {
      this.remoteAddress = `${s.remoteAddress}:${s.remotePort}`
    }
  }

  onData(socket: Bun.Socket<SocketState>, chunk: Uint8Array) {
    this.inbox.push(socket, chunk)
    this.wake()
  }

  onDrain(socket: Bun.Socket<SocketState>) {
    this.outbox.flush(socket)
    this.wake()
  }

  onEnd() {
    this.ended = true
    this.wake()
  }

  onError(e: unknown) {
    this.failure ??= transportError("ReadFailed", e)
    this.wake()
  }

  onClose(e: unknown) {
    this.closed = true
    if (e !== undefined && e !== null) this.failure ??= transportError("ReadFailed", e)
    else if (!this.closedByUs) this.ended = true
    this.wake()
  }

  // The transport (this object is its own `immediate`: one object per
  // socket, each Effect built the first time it is used).

  private hasInput(): boolean {
    return !this.inbox.isEmpty || this.ended || this.finished()
  }

  #inputEvent: Effect.Effect<void> | undefined = undefined
  private get inputEvent(): Effect.Effect<void> {
    return this.#inputEvent ??= this.events.until(() => this.hasInput())
  }

  #read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> | undefined = undefined
  get read(): Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> {
    return this.#read ??= Effect.suspend(() => this.readStep())
  }

  private readStep(): Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> {
    if (this.closedByUs) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
    if (!this.inbox.isEmpty) return Effect.succeed(Option.some(this.inbox.take(this.socket, this.closed)))
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.ended) return Effect.succeed(Option.none())
    if (this.closed) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
    return Effect.zipRight(this.inputEvent, this.read)
  }

  /** Room in the bounded buffer (or the socket is gone). */
  #room: Effect.Effect<void> | undefined = undefined
  private get room(): Effect.Effect<void> {
    return this.#room ??= this.events.until(() => this.outbox.bytes <= WRITE_BOUND || this.finished())
  }

  get immediate(): Immediate {
    return this
  }

  tryRead(): Option.Option<Uint8Array> | undefined {
    if (this.closedByUs) return undefined
    if (!this.inbox.isEmpty) return Option.some(this.inbox.take(this.socket, this.closed))
    return this.ended && this.failure === undefined ? Option.none() : undefined
  }

  #readable: Effect.Effect<void, TlsTransportError> | undefined = undefined
  get readable(): Effect.Effect<void, TlsTransportError> {
    return this.#readable ??= Effect.zipRight(
      this.inputEvent,
      Effect.suspend(() => {
        if (!this.closedByUs && (!this.inbox.isEmpty || (this.ended && this.failure === undefined))) {
          return Effect.void
        }
        return Effect.fail(this.failure ?? new TlsTransportError({ reason: "Closed" }))
      })
    )
  }

  tryWrite(bytes: Uint8Array): boolean {
    const socket = this.socket
    if (
      this.failure !== undefined || socket === undefined || this.closed || this.closedByUs ||
      this.outbox.shutdownRequested || this.outbox.bytes > WRITE_BOUND
    ) return false
    // Like node:net, the bytes are kept by reference until written.
    return this.outbox.send(socket, bytes, false)
  }

  /**
   * Waits for room first, then accepts everything in one step: an
   * interrupted write accepted nothing. (A function made once, so that it
   * may be passed around.)
   */
  #write: ((bytes: Uint8Array) => Effect.Effect<void, TlsTransportError>) | undefined = undefined
  get write(): (bytes: Uint8Array) => Effect.Effect<void, TlsTransportError> {
    return this.#write ??= (bytes) =>
      Effect.suspend(() =>
        this.outbox.bytes > WRITE_BOUND ? Effect.zipRight(this.room, this.accept(bytes)) : this.accept(bytes)
      )
  }

  private accept(bytes: Uint8Array): Effect.Effect<void, TlsTransportError> {
    return Effect.suspend(() => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      const socket = this.socket
      if (socket === undefined || this.closed || this.outbox.shutdownRequested) {
        return Effect.fail(new TlsTransportError({ reason: "Closed" }))
      }
      // Like node:net, the bytes are kept by reference until written.
      if (this.outbox.send(socket, bytes, false)) return Effect.void
      return Effect.fail(this.failure ?? new TlsTransportError({ reason: "Closed" }))
    })
  }

  /**
   * The FIN goes out after whatever still waits for the kernel; completes
   * once it went out (so closing afterwards drops nothing), or the socket
   * is gone.
   */
  #end: Effect.Effect<void, TlsTransportError> | undefined = undefined
  get end(): Effect.Effect<void, TlsTransportError> {
    return this.#end ??= Effect.suspend(() => this.endStep())
  }

  private endStep(): Effect.Effect<void, TlsTransportError> {
    if (!this.closed && this.socket !== undefined) this.outbox.requestShutdown(this.socket)
    return Effect.zipRight(
      this.events.until(() => this.outbox.shutdownSent || this.finished()),
      Effect.suspend(() =>
        this.outbox.shutdownSent || this.socket === undefined
          ? Effect.void
          : Effect.fail(this.failure ?? new TlsTransportError({ reason: "Closed" }))
      )
    )
  }

  #close: Effect.Effect<void> | undefined = undefined
  get close(): Effect.Effect<void> {
    return this.#close ??= Effect.sync(() => this.closeNow())
  }

  closeNow() {
    if (this.closedByUs) return
    this.closedByUs = true
    this.inbox.clear()
    this.outbox.clear()
    if (!this.closed) this.socket?.end()
    this.wake()
  }

  transport(): Transport {
    this.noteRemoteAddress()
    return this
  }
}

/** The handlers shared by every plain socket: they forward to its state. @internal */
export const handlers: Bun.SocketHandler<SocketState> = {
  open: (s) => s.data.onOpen(s),
  data: (s, chunk) => s.data.onData(s, chunk),
  drain: (s) => s.data.onDrain(s),
  end: (s) => s.data.onEnd(),
  error: (s, e) => s.data.onError(e),
  close: (s, e) => s.data.onClose(e)
}

/**
 * Connect to `host:port`. The state exists (and is owned by the scope)
 * before Bun is asked to connect, so interrupting the wait releases the
 * socket whenever Bun produces it.
 * @internal
 */
export const connect = (host: string, port: number): Effect.Effect<Transport, TlsTransportError, Scope.Scope> =>
  ownedByScope(() => new SocketState(), (state) => Effect.sync(() => state.closeNow())).pipe(
    Effect.flatMap((state) =>
      Effect.async<Transport, TlsTransportError>((resume) => {
        // Let go of the waiting fiber once it is resumed (or gone): Bun
        // keeps the callbacks of this promise for as long as the socket
        // lives, and they would keep the fiber, and its span, with them.
        let waiting: typeof resume | undefined = resume
        const wake = (effect: Effect.Effect<Transport, TlsTransportError>) => {
          const w = waiting
          waiting = undefined
          w?.(effect)
        }
        Bun.connect<SocketState>({
          hostname: host,
          port,
          allowHalfOpen: true,
          data: state,
          socket: { ...handlers, connectError: () => {} }
        }).then(
          (socket) => {
            state.socket ??= socket
            if (waiting === undefined) return state.closeNow()
            wake(Effect.succeed(state.transport()))
          },
          (e: unknown) => {
            wake(Effect.fail(transportError(errorCode(e) === "ECONNREFUSED" ? "ConnectRefused" : "ConnectFailed", e)))
          }
        )
        return Effect.sync(() => {
          waiting = undefined
          state.closeNow()
        })
      })
    )
  )

/** What `listenSockets` needs of a socket's state. @internal */
export interface SocketOwner {
  onOpen(socket: Bun.Socket<this>): void
  onClose(error: unknown): void
  closeNow(): void
}

/**
 * Listen with `Bun.listen`: each socket Bun opens gets a fresh state from
 * `create`, queued until `next` takes it. A socket that dies while queued
 * leaves the queue; closing the scope closes the queued ones and stops
 * listening (taken sockets belong to their owners).
 * @internal
 */
export const listenSockets = <S extends SocketOwner>(
  options: {
    readonly hostname: string
    readonly port: number
    readonly tls?: Bun.TLSOptions
    readonly reusePort?: boolean
  },
  create: () => S,
  socketHandlers: Bun.SocketHandler<S>
): Effect.Effect<{ readonly address: Address; readonly next: Effect.Effect<S> }, TlsTransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const pending: Array<S> = []
    /** A socket was queued. */
    const acceptable = Readiness.make()
    const server = yield* Effect.acquireRelease(
      Effect.try({
        try: () =>
          Bun.listen<S>({
            ...options,
            allowHalfOpen: true,
            // Replaced per socket in `open`.
            data: undefined as unknown as S,
            socket: {
              ...socketHandlers,
              open: (socket) => {
                const state = create()
                socket.data = state
                state.onOpen(socket)
                pending.push(state)
                acceptable.signal()
              },
              close: (socket, e) => {
                socket.data.onClose(e)
                const i = pending.indexOf(socket.data)
                if (i >= 0) pending.splice(i, 1)
              }
            }
          }),
        catch: (e) => transportError("ListenFailed", e)
      }),
      (server) =>
        Effect.sync(() => {
          for (const state of pending.splice(0)) state.closeNow()
          server.stop(false)
        })
    )
    const wait = acceptable.until(() => pending.length > 0)
    const next: Effect.Effect<S> = Effect.suspend(() => {
      const state = pending.shift()
      return state !== undefined ? Effect.succeed(state) : Effect.zipRight(wait, next)
    })
    return { address: { host: server.hostname, port: server.port }, next }
  })

/** @internal */
export const listen = (
  host: string,
  port: number,
  _backlog: number | undefined,
  options?: ListenOptions
): Effect.Effect<Listener, TlsTransportError, Scope.Scope> =>
  Effect.map(
    listenSockets({ hostname: host, port, reusePort: options?.reusePort === true }, () => new SocketState(), handlers),
    ({ address, next }) => ({ address, accept: Effect.map(next, (state) => state.transport()) })
  )
