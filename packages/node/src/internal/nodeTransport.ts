/** @internal */
import type { Listener, ListenOptions } from "@effect-tls/core/TlsRuntime"
import { TlsConfigError, TlsTransportError } from "@effect-tls/core/TlsError"
import type { Immediate, Transport } from "@effect-tls/core/Transport"
import * as Readiness from "@effect-tls/core/Readiness"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as net from "node:net"
import { errorCode } from "./errors.js"

/** Bytes a socket may hold for the kernel before `write` suspends. */
const TRANSPORT_BOUND = 1024 * 1024

const transportError = (
  reason: TlsTransportError["reason"],
  e: unknown
): TlsTransportError => {
  const code = errorCode(e)
  const mapped: TlsTransportError["reason"] = code === "ECONNRESET" || code === "EPIPE" ? "Reset" : reason
  return code === undefined
    ? new TlsTransportError({ reason: mapped, cause: e })
    : new TlsTransportError({ reason: mapped, code, cause: e })
}

/** Where a socket keeps its transport, for the shared listeners. */
const kTransport = Symbol("effect-tls/SocketTransport")
interface Owned {
  readonly [kTransport]: SocketTransport
}

const asBuffer = (bytes: Uint8Array) =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

/**
 * A pull-based transport over a `net.Socket` in paused mode: `read` takes
 * whatever the socket has buffered, or waits for more. It answers at once
 * too (it is its own `immediate`). One object per connection: the socket's
 * listeners are functions shared by every transport (called with the
 * socket as `this`), and each Effect is built the first time it is used.
 */
class SocketTransport implements Transport, Immediate {
  failure: TlsTransportError | undefined = undefined
  ended = false
  closed = false
  /** Bytes, end of input, an error or the close: something for `read`. */
  readonly readableEvent = Readiness.make()
  /** The kernel took bytes, or the socket failed or closed. */
  readonly writableEvent = Readiness.make()
  readonly remoteAddress: string | undefined

  constructor(readonly socket: net.Socket) {
    this.remoteAddress = socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`
    ;(socket as unknown as { [kTransport]: SocketTransport })[kTransport] = this
    for (const [event, listener] of socketListeners) socket.on(event, listener)
  }

  /** The socket was handed to node:tls (`detach`). */
  detached = false

  static onReadable(this: Owned): void {
    this[kTransport].readableEvent.signal()
  }
  static onWritable(this: Owned): void {
    this[kTransport].writableEvent.signal()
  }
  static onEnd(this: Owned): void {
    const transport = this[kTransport]
    transport.ended = true
    transport.readableEvent.signal()
  }
  static onError(this: Owned, e: unknown): void {
    const transport = this[kTransport]
    transport.failure ??= transportError("ReadFailed", e)
    transport.readableEvent.signal()
    transport.writableEvent.signal()
  }
  static onClose(this: Owned): void {
    const transport = this[kTransport]
    transport.closed = true
    transport.readableEvent.signal()
    transport.writableEvent.signal()
  }

  get immediate(): Immediate {
    return this
  }

  finished(): boolean {
    return this.failure !== undefined || this.closed || this.socket.destroyed
  }

  /** Input, end of input, or a failure or close is there to report. */
  private hasInput(): boolean {
    return this.socket.readableLength > 0 || this.ended || this.finished()
  }

  #inputEvent: Effect.Effect<void> | undefined = undefined
  private get inputEvent(): Effect.Effect<void> {
    return this.#inputEvent ??= this.readableEvent.until(() => this.hasInput())
  }

  #read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> | undefined = undefined
  get read(): Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> {
    return this.#read ??= Effect.suspend(() => {
      const socket = this.socket
      const chunk = socket.destroyed ? null : (socket.read() as Buffer | null)
      if (chunk !== null) return Effect.succeed(Option.some(chunk))
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.ended) return Effect.succeed(Option.none())
      if (this.closed) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
      return Effect.zipRight(this.inputEvent, this.read)
    })
  }

  tryRead(): Option.Option<Uint8Array> | undefined {
    const socket = this.socket
    if (socket.destroyed) return undefined
    const chunk = socket.read() as Buffer | null
    if (chunk !== null) return Option.some(chunk)
    return this.ended ? Option.none() : undefined
  }

  #readable: Effect.Effect<void, TlsTransportError> | undefined = undefined
  get readable(): Effect.Effect<void, TlsTransportError> {
    return this.#readable ??= Effect.zipRight(
      this.inputEvent,
      Effect.suspend(() => {
        if (this.socket.readableLength > 0 || this.ended) return Effect.void
        return Effect.fail(this.failure ?? new TlsTransportError({ reason: "Closed" }))
      })
    )
  }

  tryWrite(bytes: Uint8Array): boolean {
    const socket = this.socket
    if (this.failure !== undefined || this.closed || socket.destroyed || socket.writableEnded) return false
    if (socket.writableLength > TRANSPORT_BOUND) return false
    socket.write(asBuffer(bytes))
    return true
  }

  /** Waits (before accepting anything) while more than TRANSPORT_BOUND bytes wait for the kernel. */
  #room: Effect.Effect<void> | undefined = undefined
  private get room(): Effect.Effect<void> {
    return this.#room ??= this.writableEvent.until(() =>
      this.socket.writableLength <= TRANSPORT_BOUND || this.finished()
    )
  }

  /**
   * The transport's bounded buffer is TRANSPORT_BOUND, not node's 16 KiB
   * high-water mark: waiting for 'drain' after every record would leave
   * one write in flight at a time. A write waits for room first and then
   * accepts everything in one step, so an interrupted write accepted
   * nothing. (A function made once, so that it may be passed around.)
   */
  #write: ((bytes: Uint8Array) => Effect.Effect<void, TlsTransportError>) | undefined = undefined
  get write(): (bytes: Uint8Array) => Effect.Effect<void, TlsTransportError> {
    return this.#write ??= (bytes) =>
      Effect.suspend(() => {
        const accept = Effect.suspend(() => {
          const socket = this.socket
          if (this.failure !== undefined) return Effect.fail(this.failure)
          if (this.closed || socket.destroyed || socket.writableEnded) {
            return Effect.fail(new TlsTransportError({ reason: "Closed" }))
          }
          socket.write(asBuffer(bytes))
          return Effect.void
        })
        return this.socket.writableLength > TRANSPORT_BOUND ? Effect.zipRight(this.room, accept) : accept
      })
  }

  /**
   * Completes once every accepted byte and the FIN were handed to the
   * kernel ('finish'), so that closing afterwards drops nothing.
   */
  #end: Effect.Effect<void, TlsTransportError> | undefined = undefined
  get end(): Effect.Effect<void, TlsTransportError> {
    return this.#end ??= Effect.suspend(() => {
      const socket = this.socket
      if (!socket.destroyed && !socket.writableEnded) socket.end()
      return Effect.zipRight(
        this.writableEvent.until(() => socket.writableFinished || this.finished()),
        Effect.suspend(() =>
          socket.writableFinished ? Effect.void : Effect.fail(this.failure ?? new TlsTransportError({ reason: "Closed" }))
        )
      )
    })
  }

  #close: Effect.Effect<void> | undefined = undefined
  get close(): Effect.Effect<void> {
    return this.#close ??= Effect.sync(() => {
      this.socket.destroy()
    })
  }
}

/** The socket events a transport listens to, each with its listener (shared by all transports). */
const socketListeners: ReadonlyArray<readonly [string, (this: Owned, ...args: Array<any>) => void]> = [
  ["readable", SocketTransport.onReadable],
  ["drain", SocketTransport.onWritable],
  ["finish", SocketTransport.onWritable],
  ["end", SocketTransport.onEnd],
  ["error", SocketTransport.onError],
  ["close", SocketTransport.onClose]
]

/**
 * Take the socket out of one of these transports, for node:tls to run on
 * its handle (the native path): the transport's listeners are removed and
 * the transport reads and writes nothing more; what the socket buffered
 * stays there for its new owner. Closing the transport still destroys the
 * socket. `undefined` for any other transport, or one whose socket is gone
 * or already ended by either side.
 * @internal
 */
export const detach = (transport: Transport): net.Socket | undefined => {
  if (!(transport instanceof SocketTransport)) return undefined
  const socket = transport.socket
  if (transport.detached || transport.finished() || transport.ended || socket.writableEnded) return undefined
  transport.detached = true
  for (const [event, listener] of socketListeners) socket.off(event, listener)
  return socket
}

/**
 * A transport over a `net.Socket` in paused mode.
 * @internal
 */
export const fromSocket = (socket: net.Socket): Transport => new SocketTransport(socket)

/**
 * Connect to `host:port`. The socket is created and given to the scope in
 * one uninterruptible step (so the scope always destroys it; a plain
 * finalizer, as `Effect.acquireRelease` would also restore FiberRefs for
 * it), but the wait for the connection happens outside it, so interrupting
 * a connect that hangs works.
 * @internal
 */
export const connect = (host: string, port: number): Effect.Effect<Transport, TlsTransportError, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (scope) =>
    Effect.uninterruptible(Effect.suspend(() => {
      const socket = net.connect({ host, port, allowHalfOpen: true, noDelay: true })
      return Effect.as(Scope.addFinalizer(scope, Effect.sync(() => socket.destroy())), socket)
    }))).pipe(
    Effect.flatMap((socket) =>
      Effect.async<Transport, TlsTransportError>((resume) => {
        const onConnect = () => {
          cleanup()
          socket.pause()
          resume(Effect.succeed(fromSocket(socket)))
        }
        const onError = (e: Error) => {
          cleanup()
          const code = errorCode(e)
          const reason = code === "ECONNREFUSED"
            ? "ConnectRefused"
            : code === "ENOTFOUND" || code === "EAI_AGAIN"
            ? "HostNotFound"
            : "ConnectFailed"
          resume(Effect.fail(transportError(reason, e)))
        }
        const cleanup = () => {
          socket.off("connect", onConnect)
          socket.off("error", onError)
        }
        socket.once("connect", onConnect)
        socket.once("error", onError)
        return Effect.sync(cleanup)
      })
    )
  )

/**
 * Whether `server.listen` honours `reusePort` (Node.js 22.12 and 23.1 on;
 * older versions ignore it without a word).
 * @internal
 */
export const supportsReusePort = (version: string = process.versions.node): boolean => {
  const [major = 0, minor = 0] = version.split(".").map(Number)
  return major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12)
}

/** `reusePort` where Node.js would ignore it. @internal */
export const reusePortUnsupported = () =>
  new TlsConfigError({
    option: "reusePort",
    reason: `Node.js ${process.versions.node} cannot bind with SO_REUSEPORT (it needs 22.12, 23.1 or later)`
  })

/** @internal */
export const listen = (
  host: string,
  port: number,
  backlog: number | undefined,
  options?: ListenOptions
): Effect.Effect<Listener, TlsTransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const reusePort = options?.reusePort === true
    if (reusePort && !supportsReusePort()) {
      return yield* new TlsTransportError({ reason: "ListenFailed", cause: reusePortUnsupported() })
    }
    const pending: Array<net.Socket> = []
    /** A socket was queued, or the server failed. */
    const acceptable = Readiness.make()
    let failure: TlsTransportError | undefined
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => {
      pending.push(socket)
      // A socket that dies while queued is dropped from the queue.
      socket.once("close", () => {
        const i = pending.indexOf(socket)
        if (i >= 0) pending.splice(i, 1)
      })
      socket.on("error", () => {})
      acceptable.signal()
    })
    yield* Effect.acquireRelease(
      Effect.async<void, TlsTransportError>((resume) => {
        server.once("error", (e) => resume(Effect.fail(transportError("ListenFailed", e))))
        server.listen({
          host,
          port,
          ...(backlog === undefined ? {} : { backlog }),
          // Only when asked: Node.js before 22.12 would not know the key.
          ...(reusePort ? { reusePort } : {})
        } as net.ListenOptions, () => {
          server.removeAllListeners("error")
          server.on("error", (e) => {
            failure = transportError("ListenFailed", e)
            acceptable.signal()
          })
          resume(Effect.void)
        })
      }),
      // Stops listening at once (the port is free when this returns);
      // server.close's callback would also wait for every connection
      // already accepted, and those belong to whoever took them.
      () =>
        Effect.sync(() => {
          for (const socket of pending.splice(0)) socket.destroy()
          server.close()
        })
    )
    const address = server.address() as net.AddressInfo
    const wait = acceptable.until(() => pending.length > 0 || failure !== undefined)
    const accept: Effect.Effect<Transport, TlsTransportError> = Effect.suspend(() => {
      const socket = pending.shift()
      if (socket !== undefined) {
        socket.removeAllListeners("close")
        socket.removeAllListeners("error")
        return Effect.succeed(fromSocket(socket))
      }
      if (failure !== undefined) return Effect.fail(failure)
      return Effect.zipRight(wait, accept)
    })
    return { address: { host: address.address, port: address.port }, accept }
  })
