/** @internal */
import type { Listener } from "@effect-tls/core/Tls"
import { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Transport } from "@effect-tls/core/Transport"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
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
  let waiters: Array<() => void> = []
  const wake = () => {
    const ws = waiters
    waiters = []
    for (const w of ws) w()
  }
  socket.on("readable", wake)
  socket.on("drain", wake)
  socket.on("end", () => {
    ended = true
    wake()
  })
  socket.on("error", (e) => {
    failure ??= transportError("ReadFailed", e)
    wake()
  })
  socket.on("close", () => {
    closed = true
    wake()
  })
  const wait = Effect.async<void>((resume) => {
    const waiter = () => resume(Effect.void)
    waiters.push(waiter)
    return Effect.sync(() => {
      const i = waiters.indexOf(waiter)
      if (i >= 0) waiters.splice(i, 1)
    })
  })

  const read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError> = Effect.suspend(() => {
    const chunk = socket.destroyed ? null : (socket.read() as Buffer | null)
    if (chunk !== null) return Effect.succeed(Option.some(chunk))
    if (failure !== undefined) return Effect.fail(failure)
    if (ended) return Effect.succeed(Option.none())
    if (closed) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
    return Effect.zipRight(wait, read)
  })

  const awaitDrain: Effect.Effect<void, TlsTransportError> = Effect.suspend(() => {
    if (failure !== undefined) return Effect.fail(failure)
    if (closed) return Effect.fail(new TlsTransportError({ reason: "Closed" }))
    if (!socket.writableNeedDrain) return Effect.void
    return Effect.zipRight(wait, awaitDrain)
  })

  return {
    remoteAddress: socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`,
    read,
    write: (bytes) =>
      Effect.suspend(() => {
        if (failure !== undefined) return Effect.fail(failure)
        if (closed || socket.destroyed || socket.writableEnded) {
          return Effect.fail(new TlsTransportError({ reason: "Closed" }))
        }
        const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
        socket.write(buffer)
        // The transport's bounded buffer is TRANSPORT_BOUND, not node's 16 KiB
        // high-water mark: waiting for 'drain' after every record would leave
        // one write in flight at a time.
        return socket.writableLength > TRANSPORT_BOUND ? awaitDrain : Effect.void
      }),
    end: Effect.sync(() => {
      if (!socket.destroyed && !socket.writableEnded) socket.end()
    }),
    close: Effect.sync(() => {
      socket.destroy()
    })
  }
}

/**
 * Connect to `host:port`. The socket is created inside `acquireRelease` (so
 * the scope always destroys it) but the wait for the connection happens
 * outside it, so interrupting a connect that hangs works.
 * @internal
 */
export const connect = (host: string, port: number): Effect.Effect<Transport, TlsTransportError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => net.connect({ host, port, allowHalfOpen: true, noDelay: true })),
    (socket) => Effect.sync(() => socket.destroy())
  ).pipe(
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
    let acceptors: Array<() => void> = []
    let failure: TlsTransportError | undefined
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => {
      pending.push(socket)
      // A socket that dies while queued is dropped from the queue.
      socket.once("close", () => {
        const i = pending.indexOf(socket)
        if (i >= 0) pending.splice(i, 1)
      })
      socket.on("error", () => {})
      const ws = acceptors
      acceptors = []
      for (const w of ws) w()
    })
    yield* Effect.acquireRelease(
      Effect.async<void, TlsTransportError>((resume) => {
        server.once("error", (e) => resume(Effect.fail(transportError("ListenFailed", e))))
        server.listen({ host, port, ...(backlog === undefined ? {} : { backlog }) }, () => {
          server.removeAllListeners("error")
          server.on("error", (e) => {
            failure = transportError("ListenFailed", e)
            const ws = acceptors
            acceptors = []
            for (const w of ws) w()
          })
          resume(Effect.void)
        })
      }),
      () =>
        Effect.async<void>((resume) => {
          for (const socket of pending.splice(0)) socket.destroy()
          server.close(() => resume(Effect.void))
        })
    )
    const address = server.address() as net.AddressInfo
    const wait = Effect.async<void>((resume) => {
      const waiter = () => resume(Effect.void)
      acceptors.push(waiter)
      return Effect.sync(() => {
        const i = acceptors.indexOf(waiter)
        if (i >= 0) acceptors.splice(i, 1)
      })
    })
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
