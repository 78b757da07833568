/** Helpers of the conformance suite. */
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import type { Pki } from "../src/pki.js"
import { Cause, Deferred, Effect, Exit, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import { makeCondition } from "../src/condition.js"

/** A deterministic PRNG (mulberry32), so a failing seed can be replayed. */
export const seededRandom = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const randomBytes = (n: number, random: () => number): Buffer => {
  const out = Buffer.alloc(n)
  for (let i = 0; i < n; i += 4) out.writeUInt32LE(Math.floor(random() * 4294967296), Math.min(i, n - 4))
  return out
}

/** Read exactly `n` bytes (fails the test on an early close). */
export const collect = (c: TlsConnection, n: number) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    let got = 0
    while (got < n) {
      const chunk = yield* c.read
      if (Option.isNone(chunk)) return yield* Effect.dieMessage(`closed after ${got} of ${n} bytes`)
      chunks.push(chunk.value)
      got += chunk.value.length
    }
    return Buffer.concat(chunks)
  })

/**
 * A plain TCP server on 127.0.0.1 that accepts and records connections but
 * never speaks, for observing what a client does on the wire.
 */
export const rawServer = Effect.gen(function*() {
  const sockets: Array<net.Socket> = []
  const received: Array<number> = []
  const closed: Array<boolean> = []
  const { notify, until } = makeCondition()
  const server = yield* Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const s = net.createServer((socket) => {
        const i = sockets.push(socket) - 1
        received[i] = 0
        closed[i] = false
        socket.on("data", (d) => {
          received[i]! += d.length
          notify()
        })
        socket.on("error", () => {})
        socket.on("close", () => {
          closed[i] = true
          notify()
        })
        notify()
      })
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        s.close()
      })
  )
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => sockets.length,
    connection: (i: number) => Effect.map(until(() => sockets.length > i), () => sockets[i]!),
    received: (i: number) => until(() => (received[i] ?? 0) > 0),
    closed: (i: number) => until(() => closed[i] === true)
  }
})

/** A port on 127.0.0.1 that nothing listens on. */
export const refusedPort = Effect.async<number>((resume) => {
  const s = net.createServer()
  s.listen(0, "127.0.0.1", () => {
    const port = (s.address() as net.AddressInfo).port
    s.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * What a layer under test does differently from the contract, each item a
 * documented runtime behaviour (README runtime table). The suite checks the
 * contract where a field is absent, and pins the documented behaviour where
 * it is set. Node's layers set nothing.
 */
export interface Differences {
  /**
   * TLS 1.3 cipher suites are the TLS library's choice (BoringSSL has no
   * setting for them): `ciphers` only constrains TLS 1.2.
   */
  readonly tls13CiphersFixed?: true
  /**
   * No TLS half-close on the server side or on both: once a side has sent
   * close_notify it reads `None` at once, and a side that receives
   * close_notify answers with its own at once, so what it writes afterwards
   * is not delivered. (Bun's node:tls over a Duplex.)
   */
  readonly noHalfClose?: true
  /**
   * The client cannot tell a peer's close_notify from a bare TCP FIN: a
   * connection the server drops without close_notify reads as a clean end
   * (`None`) rather than `TlsUnexpectedEof`. (Native TLS sockets.)
   */
  readonly truncationLooksClean?: true
  /**
   * The peer's chain is its leaf certificate only: the socket exposes no
   * issuer of it (Bun's native TLS sockets, even `getPeerCertificate(true)`).
   */
  readonly chainIsLeafOnly?: true
  /**
   * The alert a TLS 1.3 server reports having sent when the client gave no
   * certificate, when it is not `certificate_required`.
   */
  readonly tls13MissingCertificateAlertSent?: string
  /**
   * The TLS library answers a first record that is not TLS with a
   * protocol_version alert (BoringSSL); OpenSSL sends none.
   */
  readonly alertForNotTls?: true
}

/** Open TCP sockets of this process, for leak checks. */
export const openTcpSockets: () => number = () =>
  "Bun" in globalThis ? procSockets() : process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length

/**
 * Bun's `process.getActiveResourcesInfo()` lists no sockets: count the
 * process's socket descriptors instead (Linux), minus the listening ones
 * and those vitest itself keeps, by comparing against a baseline.
 */
const procSockets = (): number => {
  let n = 0
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try {
      if (fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")) n++
    } catch {
      // closed while listing
    }
  }
  return n
}

/** The expected failure of an exit, if it failed with one. */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E | undefined =>
  Exit.isFailure(exit) ? Option.getOrUndefined(Cause.failureOption(exit.cause)) : undefined

/**
 * A server (given `services`, such as an `SniResolver`) that accepts one
 * connection and hands out what happened to it.
 */
export const acceptOne = <ROut = never, E = never>(
  options: TlsOptions.ServerOptions,
  services: Layer.Layer<ROut, E> = Layer.empty as unknown as Layer.Layer<ROut, E>
) =>
  Effect.gen(function*() {
    const server = yield* Tls.listen(options).pipe(Effect.provide(services))
    const result = yield* Deferred.make<Exit.Exit<TlsConnection, unknown>>()
    yield* Effect.forkScoped(
      server.accept.pipe(
        Effect.exit,
        Effect.flatMap((exit) => Deferred.succeed(result, exit)),
        Effect.zipRight(Effect.never)
      )
    )
    return { port: server.address.port, result: Deferred.await(result) }
  })

/**
 * Options of a server on 127.0.0.1 (port 0) with the PKI's server
 * certificate, and of a client that trusts the PKI's root; `common` goes
 * to both (the path under test: `allowTruncation` takes the native one).
 */
export const optionsFor = (pki: Pki, common: Partial<TlsOptions.CommonOptions> = {}) => ({
  serverOptions: (extra: Partial<TlsOptions.ServerOptions> = {}): TlsOptions.ServerOptions => ({
    host: "127.0.0.1",
    port: 0,
    cert: pki.server.chain,
    key: pki.server.key,
    ...common,
    ...extra
  }),
  clientOptions: (port: number, extra: Partial<TlsOptions.ClientOptions> = {}): TlsOptions.ClientOptions => ({
    host: "localhost",
    port,
    ca: pki.root.cert,
    ...common,
    ...extra
  })
})

/**
 * node:tls over a JS Duplex that wraps the TCP socket, so that a test can
 * end the TCP stream itself: `tcp.end()` is a bare FIN, with no
 * close_notify before it (node:tls on the TCP handle always sends one).
 */
const overDuplex = (tcp: net.Socket): Duplex => {
  const duplex = new Duplex({
    allowHalfOpen: true,
    read: () => {
      tcp.resume()
    },
    write: (chunk: Buffer, _encoding, callback) => {
      tcp.write(chunk, () => callback())
    },
    final: (callback) => callback()
  })
  tcp.on("data", (chunk: Buffer) => {
    if (!duplex.push(chunk)) tcp.pause()
  })
  tcp.on("end", () => duplex.push(null))
  tcp.on("error", () => duplex.destroy())
  return duplex
}

/** A raw TLS peer whose TCP stream a test ends itself (see `overDuplex`). */
export interface RawTlsPeer {
  readonly tls: tls.TLSSocket
  readonly tcp: net.Socket
  /** Resolves with what the peer read until its input ended, or the error. */
  readonly received: Promise<{ readonly bytes: Buffer; readonly error: unknown }>
}

const recording = (socket: tls.TLSSocket) =>
  new Promise<{ readonly bytes: Buffer; readonly error: unknown }>((resolve) => {
    const chunks: Array<Buffer> = []
    socket.on("data", (c: Buffer) => chunks.push(c))
    socket.on("end", () => resolve({ bytes: Buffer.concat(chunks), error: undefined }))
    socket.on("error", (error) => resolve({ bytes: Buffer.concat(chunks), error }))
  })

/** A raw TLS server (node:tls over a Duplex) on 127.0.0.1 that hands out its first peer once secure. */
export const rawTlsServer = (pki: Pki) =>
  Effect.gen(function*() {
    const peer = yield* Deferred.make<RawTlsPeer>()
    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server>((resume) => {
        const s = net.createServer({ allowHalfOpen: true }, (tcp) => {
          tcp.on("error", () => {})
          const socket = new tls.TLSSocket(overDuplex(tcp) as unknown as net.Socket, {
            isServer: true,
            secureContext: tls.createSecureContext({ cert: pki.server.chain, key: pki.server.key })
          })
          socket.on("error", () => {})
          const received = recording(socket)
          socket.once("secure", () => Deferred.unsafeDone(peer, Exit.succeed({ tls: socket, tcp, received })))
        })
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) => Effect.sync(() => s.close())
    )
    return { port: (server.address() as net.AddressInfo).port, peer: Deferred.await(peer) }
  })

/** A raw TLS client (node:tls over a Duplex) of `port`, once secure. */
export const rawTlsClient = (pki: Pki, port: number) =>
  Effect.acquireRelease(
    Effect.async<RawTlsPeer, Error>((resume) => {
      const tcp = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true })
      tcp.on("error", (e) => resume(Effect.fail(e)))
      const socket = tls.connect({ socket: overDuplex(tcp) as unknown as net.Socket, servername: "localhost", ca: pki.root.cert })
      socket.on("error", () => {})
      const received = recording(socket)
      socket.once("secureConnect", () => resume(Effect.succeed({ tls: socket, tcp, received })))
    }),
    (peer) => Effect.sync(() => peer.tcp.destroy())
  )

/** Write on the TLS socket, wait until the kernel has it, then end the TCP stream: a bare FIN. */
export const writeThenBareFin = (peer: RawTlsPeer, data: string) =>
  Effect.async<void>((resume) => {
    peer.tls.write(data, () => {
      peer.tcp.end(() => resume(Effect.void))
    })
  })
