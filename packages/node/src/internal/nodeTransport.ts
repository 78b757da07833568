/** @internal */
import type { Listener } from "@effect-tls/core/TlsRuntime"
import { TlsTransportError } from "@effect-tls/core/TlsError"
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

/**
 * A pull-based transport over a `net.Socket` in paused mode: `read` takes
 * whatever the socket has buffered, or waits for more.
 * @internal
 */
export const fromSocket = (socket: net.Socket): Transport => {
  let failure: TlsTransportError | undefined
  let ended = false
  let closed = false
  /** Bytes, end of input, an error or the close: something for `read`. */
  const readable = Readiness.make()
  /** The kernel took bytes, or the socket failed or closed. */
  const writable = Readiness.make()
  const both = () => {
    readable.signal()
    writable.signal()
  }
  socket.on("readable", readable.signal)
  socket.on("drain", writable.signal)
  socket.on("finish", writable.signal)
  socket.on("end", () => {
    ended = true
    readable.signal()
  })
  socket.on("error", (e) => {
    failure ??= transportError("ReadFailed", e)
    both()
  })
  socket.on("close", () => {
    closed = true
    both()
  })
  const finished = () => failure !== undefined || closed || socket.destroyed

  const read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> = Effect.suspend(() => {
    const chunk = socket.destroyed ? null : (socket.read() as Buffer | null)
    if (chunk !== null) return Effect.succeed(Option.some(chunk))
    if (failure !== undefined) return Effect.fail(failure)
    if (ended) return Effect.succeed(Option.none())
    if (closed) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
    return Effect.zipRight(readable.until(() => socket.readableLength > 0 || ended || finished()), read)
  })

  /** Waits (before accepting anything) while more than TRANSPORT_BOUND bytes wait for the kernel. */
  const room: Effect.Effect<void> = writable.until(() => socket.writableLength <= TRANSPORT_BOUND || finished())

  const asBuffer = (bytes: Uint8Array) =>
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)

  const immediate: Immediate = {
    tryRead: () => {
      if (socket.destroyed) return undefined
      const chunk = socket.read() as Buffer | null
      if (chunk !== null) return Option.some(chunk)
      return ended ? Option.none() : undefined
    },
    readable: Effect.zipRight(
      readable.until(() => socket.readableLength > 0 || ended || finished()),
      Effect.suspend(() => {
        if (socket.readableLength > 0 || ended) return Effect.void
        return Effect.fail(failure ?? new TlsTransportError({ reason: "Closed" }))
      })
    ),
    tryWrite: (bytes) => {
      if (failure !== undefined || closed || socket.destroyed || socket.writableEnded) return false
      if (socket.writableLength > TRANSPORT_BOUND) return false
      socket.write(asBuffer(bytes))
      return true
    }
  }

  return {
    remoteAddress: socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`,
    read,
    immediate,
    // The transport's bounded buffer is TRANSPORT_BOUND, not node's 16 KiB
    // high-water mark: waiting for 'drain' after every record would leave
    // one write in flight at a time. A write waits for room first and then
    // accepts everything in one step, so an interrupted write accepted nothing.
    write: (bytes) =>
      Effect.suspend(() => {
        const accept = Effect.suspend(() => {
          if (failure !== undefined) return Effect.fail(failure)
          if (closed || socket.destroyed || socket.writableEnded) {
            return Effect.fail(new TlsTransportError({ reason: "Closed" }))
          }
          socket.write(asBuffer(bytes))
          return Effect.void
        })
        return socket.writableLength > TRANSPORT_BOUND ? Effect.zipRight(room, accept) : accept
      }),
    // Completes once every accepted byte and the FIN were handed to the
    // kernel ('finish'), so that closing afterwards drops nothing.
    end: Effect.suspend(() => {
      if (!socket.destroyed && !socket.writableEnded) socket.end()
      return Effect.zipRight(
        writable.until(() => socket.writableFinished || finished()),
        Effect.suspend(() =>
          socket.writableFinished ? Effect.void : Effect.fail(failure ?? new TlsTransportError({ reason: "Closed" }))
        )
      )
    }),
    close: Effect.sync(() => {
      socket.destroy()
    })
  }
}

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

/** @internal */
export const listen = (
  host: string,
  port: number,
  backlog: number | undefined
): Effect.Effect<Listener, TlsTransportError, Scope.Scope> =>
  Effect.gen(function*() {
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
        server.listen({ host, port, ...(backlog === undefined ? {} : { backlog }) }, () => {
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
