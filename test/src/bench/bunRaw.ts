/**
 * The raw baseline on Bun: Bun's own TLS sockets (`Bun.listen` /
 * `Bun.connect` with `tls`), BoringSSL inside Bun, no ciphertext in JS.
 * A write takes what the socket can take now and says how much; the rest
 * waits for the socket's `drain` (the counterpart of node's `write()`
 * returning false). Only loaded under Bun.
 */
import { Effect } from "effect"
import { type FloorNet, type FloorSocket, inbox } from "./effectFloor.js"
import { type Impl, type Pems, resumptions, roundTrips, type Sizes, sleep } from "./types.js"

interface BunSocket {
  write(data: Uint8Array): number
  end(): void
  setSession(session: Uint8Array): void
  getSession(): Uint8Array | undefined
  isSessionReused(): boolean
  pause(): void
  resume(): void
}

interface Handlers {
  readonly open?: (socket: BunSocket) => void
  readonly handshake?: (socket: BunSocket, success: boolean, authorizationError: Error | null) => void
  readonly data?: (socket: BunSocket, data: Uint8Array) => void
  readonly drain?: (socket: BunSocket) => void
  readonly close?: (socket: BunSocket) => void
  readonly error?: (socket: BunSocket, error: Error) => void
}

declare const Bun: {
  listen(options: {
    hostname: string
    port: number
    tls: { cert: string; key: string }
    socket: Handlers
  }): { port: number; stop(closeActive?: boolean): void }
  connect(options: {
    hostname: string
    port: number
    tls: { ca: string; serverName: string }
    socket: Handlers
  }): Promise<BunSocket>
}

/** One end: its socket, and what to do with its data and drain events (replaceable). */
interface End {
  readonly socket: BunSocket
  onData: (data: Uint8Array) => void
  onDrain: () => void
}

const ignore = () => {}

/** Writes `message` `n` times; a partial write waits for drain. */
const writeAll = (end: End, message: Uint8Array, n: number) => {
  let i = 0
  let offset = 0
  const pump = () => {
    while (i < n) {
      const view = offset === 0 ? message : message.subarray(offset)
      const written = end.socket.write(view)
      if (written < view.length) {
        offset += Math.max(0, written)
        return
      }
      offset = 0
      i++
    }
  }
  end.onDrain = pump
  pump()
}

/** Where a socket's events go once its handshake completed. */
interface Events {
  readonly data: (data: Uint8Array) => void
  readonly drain: () => void
  readonly close: () => void
}

/** A server whose sockets get their `Events` from `onSecure` once their handshake completed. */
const listenSecure = <E extends Events>(pems: Pems, onSecure: (socket: BunSocket) => E) => {
  const secured = new Map<BunSocket, E>()
  return Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: pems.cert, key: pems.key },
    socket: {
      // The server asks for no client certificate: its authorizationError says so, and is not a failure.
      handshake: (socket, success) => {
        if (success) secured.set(socket, onSecure(socket))
      },
      data: (socket, data) => secured.get(socket)?.data(data),
      drain: (socket) => secured.get(socket)?.drain(),
      close: (socket) => {
        secured.get(socket)?.close()
        secured.delete(socket)
      },
      error: ignore
    }
  })
}

/** A client socket's `Events` from `onSecure`, once its handshake completed (and the server verified). */
const connectSecure = <E extends Events>(pems: Pems, port: number, onSecure: (socket: BunSocket) => E) =>
  new Promise<E>((resolve, reject) => {
    let events: E | undefined
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      tls: { ca: pems.ca, serverName: "localhost" },
      socket: {
        handshake: (socket, success, authorizationError) => {
          if (!success || authorizationError !== null) {
            reject(authorizationError ?? new Error("handshake failed"))
            return
          }
          events = onSecure(socket)
          resolve(events)
        },
        data: (_, data) => events?.data(data),
        drain: () => events?.drain(),
        close: () => events?.close(),
        error: (_, e) => reject(e)
      }
    }).catch(reject)
  })

/** An End and the events that reach it. */
const endOf = (socket: BunSocket) => {
  const end: End = { socket, onData: ignore, onDrain: ignore }
  return { end, data: (data: Uint8Array) => end.onData(data), drain: () => end.onDrain(), close: ignore }
}

export const raw = (pems: Pems, sizes: Sizes): Impl => {
  const payload = new Uint8Array(sizes.chunk).fill(0x61)

  /** A server whose connections become Ends once their handshake completed. */
  const listen = (onSecure: (end: End) => void) =>
    listenSecure(pems, (socket) => {
      const events = endOf(socket)
      onSecure(events.end)
      return events
    })

  /** A client End once its handshake completed (and the server verified). */
  const connect = (port: number) => connectSecure(pems, port, endOf).then((events) => events.end)

  /**
   * A client that offers `session` (set in `open`, where Bun takes it), and
   * resolves with its socket and whether it resumed; `onData` sees its data.
   */
  const connectResuming = (port: number, session: Uint8Array | undefined, onData: (socket: BunSocket) => void = ignore) =>
    new Promise<{ readonly socket: BunSocket; readonly reused: boolean }>((resolve, reject) => {
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        tls: { ca: pems.ca, serverName: "localhost" },
        socket: {
          open: (socket) => {
            if (session !== undefined) socket.setSession(session)
          },
          handshake: (socket, success, authorizationError) => {
            if (!success || authorizationError !== null) reject(authorizationError ?? new Error("handshake failed"))
            else resolve({ socket, reused: socket.isSessionReused() })
          },
          data: (socket) => onData(socket),
          error: (_, e) => reject(e)
        }
      }).catch(reject)
    })

  /** Resolves once `k` Ends were produced in all. */
  const counter = () => {
    const ends: Array<End> = []
    let waiting: [number, () => void] | undefined
    return {
      ends,
      add: (end: End) => {
        ends.push(end)
        if (waiting !== undefined && ends.length >= waiting[0]) {
          const [, wake] = waiting
          waiting = undefined
          wake()
        }
      },
      count: (k: number) =>
        new Promise<void>((resolve) => {
          if (ends.length >= k) resolve()
          else waiting = [k, resolve]
        })
    }
  }

  const pair = async (onAccepted: (end: End) => void = ignore) => {
    const accepted = counter()
    const server = listen((end) => {
      onAccepted(end)
      accepted.add(end)
    })
    const client = await connect(server.port)
    await accepted.count(1)
    const conn = accepted.ends[0]!
    const close = () => {
      client.socket.end()
      server.stop(true)
    }
    return { client, conn, close }
  }

  /** Resolves at the time `end` has delivered `bytes` in all. */
  const receive = (end: End, bytes: number) =>
    new Promise<number>((resolve) => {
      let got = 0
      end.onData = (data) => {
        got += data.length
        if (got >= bytes) resolve(performance.now())
      }
    })

  return {
    name: "Bun TLS sockets",
    bulk: async (bytes) => {
      const { client, conn, close } = await pair()
      const start = performance.now()
      const done = receive(conn, bytes)
      writeAll(client, payload, Math.ceil(bytes / sizes.chunk))
      const end = await done
      close()
      return end - start
    },
    handshakes: async (n) => {
      const server = listen((end) => end.socket.end())
      const start = performance.now()
      let next = 0
      const worker = async () => {
        while (next++ < n) (await connect(server.port)).socket.end()
      }
      await Promise.all(Array.from({ length: sizes.concurrency }, worker))
      const ms = performance.now() - start
      server.stop(true)
      return ms
    },
    resumed: async (n) => {
      // The server writes a byte after each handshake; Bun keeps one session
      // per connection, read with getSession() once the byte is in.
      const server = listen((end) => {
        end.socket.write(new Uint8Array([0x78]))
        end.socket.end()
      })
      try {
        return await resumptions<Uint8Array>(
          n,
          sizes.concurrency,
          (tickets) =>
            new Promise<void>((resolve, reject) => {
              connectResuming(server.port, undefined, (socket) => {
                const session = socket.getSession()
                if (session !== undefined) tickets.push(session)
                socket.end()
                resolve()
              }).catch(reject)
            }),
          async (ticket) => {
            const client = await connectResuming(server.port, ticket)
            client.socket.end()
            return client.reused
          }
        )
      } finally {
        server.stop(true)
      }
    },
    writes: async (n) => {
      const { client, conn, close } = await pair()
      const message = new Uint8Array(sizes.writeSize).fill(0x62)
      const start = performance.now()
      const done = receive(conn, n * sizes.writeSize)
      writeAll(client, message, n)
      const end = await done
      close()
      return end - start
    },
    echo: async (n, warmup) => {
      const { client, close } = await pair((end) => {
        end.onData = (data) => writeAll(end, data.slice(), 1)
      })
      const message = new Uint8Array(sizes.echoSize).fill(0x63)
      const trips = roundTrips(sizes.echoSize)
      client.onData = (data) => trips.arrived(data.length)
      const micros = await trips.run(n, warmup, () => writeAll(client, message, 1))
      close()
      return micros
    },
    idle: async (n, hooks) => {
      const accepted = counter()
      const server = listen(accepted.add)
      const first = await connect(server.port)
      await accepted.count(1)
      first.socket.end()
      accepted.ends.pop()!.socket.end()
      await sleep(50)
      await hooks.before()
      const clients: Array<End> = []
      let next = 0
      const worker = async () => {
        while (next++ < n) clients.push(await connect(server.port))
      }
      await Promise.all(Array.from({ length: sizes.concurrency }, worker))
      await accepted.count(n)
      await hooks.after()
    },
    peak: async (hooks) => {
      // The server's end is paused once its handshake completed: nothing reads it.
      const { client } = await pair((end) => end.socket.pause())
      let drained: (() => void) | undefined
      client.onDrain = () => drained?.()
      await hooks.start()
      const deadline = performance.now() + sizes.peakSeconds * 1000
      let written = 0
      let offset = 0
      while (written < sizes.peakBytes && performance.now() < deadline) {
        const view = offset === 0 ? payload : payload.subarray(offset)
        const n = Math.max(0, client.socket.write(view))
        written += n
        offset = (offset + n) % payload.length
        if (n < view.length) {
          await Promise.race([
            new Promise<void>((resolve) => (drained = resolve)),
            sleep(Math.max(0, deadline - performance.now()))
          ])
        }
      }
      await hooks.done(written)
    }
  }
}

/**
 * Bun's TLS sockets as the Effect floor drives them (`effectFloor.ts`): a
 * write takes what the socket takes now and waits for `drain` for the rest.
 */
export const floorNet = (pems: Pems): FloorNet => {
  const wrap = (socket: BunSocket) => {
    const box = inbox(() => socket.pause(), () => socket.resume())
    let drained: (() => void) | undefined
    const write = (bytes: Uint8Array): Effect.Effect<void> =>
      Effect.suspend(() => {
        const written = Math.max(0, socket.write(bytes))
        if (written === bytes.length) return Effect.void
        const rest = bytes.subarray(written)
        return Effect.flatMap(
          Effect.async<void>((resume) => {
            drained = () => resume(Effect.void)
          }),
          () => write(rest)
        )
      })
    return {
      socket: { conn: { read: box.read, write }, end: () => socket.end() } satisfies FloorSocket,
      data: box.data,
      close: box.end,
      drain: () => {
        const wake = drained
        drained = undefined
        wake?.()
      }
    }
  }
  return {
    listen: async (onSecure) => {
      const server = listenSecure(pems, (socket) => {
        const w = wrap(socket)
        onSecure(w.socket)
        return w
      })
      return { port: server.port, close: () => server.stop(true) }
    },
    connect: (port) => connectSecure(pems, port, wrap).then((w) => w.socket)
  }
}
