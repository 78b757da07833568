/**
 * The baselines written with node:tls, as an application would use it:
 * `tls.createServer` and `tls.connect` (the raw baseline on Node), and the
 * same code with node:tls running over a plain JS Duplex that wraps a
 * `net.Socket` (on Bun: Bun's own node:tls over a Duplex, the ceiling of
 * `BunTls.layerSansIo`, which runs node:tls over an in-memory Duplex too).
 *
 * Every socket gets an error listener: a reset during teardown must not
 * end the process. An error before a case completes rejects it.
 */
import type { AddressInfo } from "node:net"
import * as net from "node:net"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import { type Impl, type Pems, resumptions, roundTrips, type Sizes, sleep } from "./types.js"

/** How a baseline opens TLS sockets: a server, and clients resolved once their handshake completed. */
export interface Net {
  readonly listen: (onSecure: (socket: tls.TLSSocket) => void) => Promise<{ readonly port: number; readonly close: () => void }>
  /** `session`: a session to offer (from the 'session' event). */
  readonly connect: (port: number, session?: Buffer) => Promise<tls.TLSSocket>
}

const ignore = () => {}

/** node:tls on its own sockets. */
export const direct = (pems: Pems): Net => ({
  listen: (onSecure) =>
    new Promise((resolve, reject) => {
      const server = tls.createServer({ cert: pems.cert, key: pems.key }, (socket) => {
        socket.on("error", ignore)
        onSecure(socket)
      })
      server.on("tlsClientError", ignore)
      server.once("error", reject)
      server.listen(0, "127.0.0.1", () =>
        resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() })
      )
    }),
  connect: (port, session) =>
    new Promise((resolve, reject) => {
      const client = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ca: pems.ca, session }, () => {
        client.off("error", reject)
        client.on("error", ignore)
        resolve(client)
      })
      client.once("error", reject)
    })
})

/** A JS Duplex over a socket: what node:tls sees instead of the TCP handle. */
const overDuplex = (socket: net.Socket): net.Socket => {
  const duplex = new Duplex({
    allowHalfOpen: true,
    read: () => {
      socket.resume()
    },
    write: (chunk: Buffer, _encoding, callback) => {
      if (socket.write(chunk)) callback()
      else socket.once("drain", () => callback())
    },
    final: (callback) => {
      socket.end()
      callback()
    },
    destroy: (error, callback) => {
      socket.destroy()
      callback(error)
    }
  })
  socket.on("data", (chunk: Buffer) => {
    if (!duplex.push(chunk)) socket.pause()
  })
  socket.on("end", () => duplex.push(null))
  socket.on("error", (e) => duplex.destroy(e))
  return duplex as unknown as net.Socket
}

/** node:tls over a JS Duplex wrapping a net.Socket, on both ends. */
const duplexed = (pems: Pems): Net => {
  const context = tls.createSecureContext({ cert: pems.cert, key: pems.key })
  return {
    listen: (onSecure) =>
      new Promise((resolve, reject) => {
        const server = net.createServer((socket) => {
          socket.on("error", ignore)
          const secure = new tls.TLSSocket(overDuplex(socket), { isServer: true, secureContext: context })
          secure.on("error", ignore)
          secure.once("secure", () => onSecure(secure))
        })
        server.once("error", reject)
        server.listen(0, "127.0.0.1", () =>
          resolve({ port: (server.address() as AddressInfo).port, close: () => server.close() })
        )
      }),
    connect: (port, session) =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, "127.0.0.1")
        socket.on("error", ignore)
        const client = tls.connect({ socket: overDuplex(socket), servername: "localhost", ca: pems.ca, session }, () => {
          client.off("error", reject)
          client.on("error", ignore)
          resolve(client)
        })
        client.once("error", reject)
      })
  }
}

/** Resolves with the k-th socket the server accepted (0-based) once it is there. */
const acceptor = () => {
  const sockets: Array<tls.TLSSocket> = []
  const waiting: Array<[number, () => void]> = []
  return {
    sockets,
    onSecure: (socket: tls.TLSSocket) => {
      sockets.push(socket)
      for (const [i, [k, wake]] of [...waiting.entries()].reverse()) {
        if (sockets.length >= k) {
          waiting.splice(i, 1)
          wake()
        }
      }
    },
    /** Resolves once `k` sockets were accepted in all. */
    count: (k: number) =>
      new Promise<void>((resolve) => {
        if (sockets.length >= k) resolve()
        else waiting.push([k, resolve])
      })
  }
}

/** Resolves at the time the socket has delivered `bytes` in all. */
const receive = (socket: tls.TLSSocket, bytes: number) =>
  new Promise<number>((resolve) => {
    let got = 0
    socket.on("data", (chunk: Buffer) => {
      got += chunk.length
      if (got >= bytes) resolve(performance.now())
    })
  })

const make = (name: string, network: Net, sizes: Sizes): Impl => {
  const payload = Buffer.alloc(sizes.chunk, 0x61)

  /** A server and one client connected to it, both handshakes done. */
  const pair = async (onAccepted?: (socket: tls.TLSSocket) => void) => {
    const accepted = acceptor()
    const server = await network.listen((socket) => {
      onAccepted?.(socket)
      accepted.onSecure(socket)
    })
    const client = await network.connect(server.port)
    await accepted.count(1)
    const conn = accepted.sockets[0]!
    const close = () => {
      client.destroy()
      conn.destroy()
      server.close()
    }
    return { server, client, conn, close }
  }

  /** Writes `message` `n` times, waiting for 'drain' whenever write says so. */
  const writeAll = (socket: tls.TLSSocket, message: Buffer, n: number) => {
    let i = 0
    const pump = () => {
      while (i < n) {
        i++
        if (!socket.write(message)) {
          socket.once("drain", pump)
          return
        }
      }
    }
    pump()
  }

  return {
    name,
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
      const server = await network.listen((socket) => socket.end())
      const start = performance.now()
      let next = 0
      const worker = async () => {
        while (next++ < n) (await network.connect(server.port)).end()
      }
      await Promise.all(Array.from({ length: sizes.concurrency }, worker))
      const ms = performance.now() - start
      server.close()
      return ms
    },
    resumed: async (n) => {
      // The server writes a byte after each handshake: a client that reads
      // it has every ticket sent before it.
      const server = await network.listen((socket) => socket.end("x"))
      try {
        return await resumptions<Buffer>(n, sizes.concurrency, async (tickets) => {
          const client = await network.connect(server.port)
          client.on("session", (session: Buffer) => tickets.push(session))
          await new Promise<void>((resolve) => {
            client.on("data", ignore)
            client.once("end", () => resolve())
            client.once("close", () => resolve())
          })
          client.destroy()
        }, async (ticket) => {
          const client = await network.connect(server.port, ticket)
          const reused = client.isSessionReused()
          client.end()
          return reused
        })
      } finally {
        server.close()
      }
    },
    writes: async (n) => {
      const { client, conn, close } = await pair()
      const message = Buffer.alloc(sizes.writeSize, 0x62)
      const start = performance.now()
      const done = receive(conn, n * sizes.writeSize)
      writeAll(client, message, n)
      const end = await done
      close()
      return end - start
    },
    echo: async (n, warmup) => {
      const { client, close } = await pair((socket) => socket.on("data", (chunk: Buffer) => socket.write(chunk)))
      const message = Buffer.alloc(sizes.echoSize, 0x63)
      const trips = roundTrips(sizes.echoSize)
      client.on("data", (chunk: Buffer) => trips.arrived(chunk.length))
      const micros = await trips.run(n, warmup, () => client.write(message))
      close()
      return micros
    },
    idle: async (n, hooks) => {
      const accepted = acceptor()
      const server = await network.listen(accepted.onSecure)
      const first = await network.connect(server.port)
      await accepted.count(1)
      first.destroy()
      accepted.sockets.pop()!.destroy()
      await sleep(50)
      await hooks.before()
      const clients: Array<tls.TLSSocket> = []
      let next = 0
      const worker = async () => {
        while (next++ < n) clients.push(await network.connect(server.port))
      }
      await Promise.all(Array.from({ length: sizes.concurrency }, worker))
      await accepted.count(n)
      await hooks.after()
    },
    peak: async (hooks) => {
      const { client } = await pair((socket) => socket.pause())
      await hooks.start()
      const deadline = performance.now() + sizes.peakSeconds * 1000
      let written = 0
      while (written < sizes.peakBytes && performance.now() < deadline) {
        written += payload.length
        if (!client.write(payload)) {
          await Promise.race([
            new Promise((resolve) => client.once("drain", resolve)),
            sleep(Math.max(0, deadline - performance.now()))
          ])
        }
      }
      await hooks.done(written - client.writableLength)
    }
  }
}

/** node:tls as an application uses it: tls.createServer and tls.connect. */
export const raw = (pems: Pems, sizes: Sizes): Impl => make("node:tls", direct(pems), sizes)

/**
 * node:tls over a JS Duplex wrapping a net.Socket: what the sans-IO path
 * could reach at best (bulk, handshakes, small writes, echo, memory per
 * idle connection).
 */
export const ceiling = (pems: Pems, sizes: Sizes): Impl => {
  const all = make("node:tls over Duplex", duplexed(pems), sizes)
  return {
    name: all.name,
    bulk: all.bulk!,
    handshakes: all.handshakes!,
    writes: all.writes!,
    echo: all.echo!,
    idle: all.idle!
  }
}
