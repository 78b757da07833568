/**
 * The Effect floor of the per-message and per-connection cases: the
 * thinnest Effect program over the runtime's raw TLS sockets that offers
 * what the bench's Effect code uses (no effect-tls at all). A read is one
 * Effect (at once when a chunk is there, else one `Effect.async` woken by
 * the socket's 'data'), a write one Effect (at once when the socket takes
 * it, else one wait for 'drain'), a connect one `Effect.async` in a scope
 * that ends the socket, and each connection a server accepts runs its
 * handler in a fiber of its own. The cases are the same Effect code as
 * `effect.ts` runs against `Tls`.
 *
 * What it leaves out, and a TLS library for Effect must pay for: typed
 * errors and close semantics, interruption of a read or a write (no
 * canceler: an interrupted wait would leave its callback behind), whole
 * writes under concurrency, bounded buffers, time limits. So its ratio to
 * raw TLS bounds from below what an Effect API can reach for a round trip
 * (echo), a connection (handshakes), an idle connection (idle), and for
 * one Effect per `write` (small writes) and per chunk read (bulk), on this
 * machine, in the same run. Its writes and reads take the raw socket's own
 * buffering (its write queue, the chunks it delivers), as the raw baseline
 * does.
 * (`npm run bench` measures it unless `--no-floor`.)
 */
import type * as tls from "node:tls"
import { Deferred, Duration, Effect, Option, Ref, type Scope } from "effect"
import { echoBack, oneWay, roundTrips } from "./effect.js"
import { direct } from "./nodeRaw.js"
import type { Impl, Pems, Sizes } from "./types.js"

/** A socket as the cases use a connection: `read` (none at the end) and `write`. */
export interface Conn {
  readonly read: Effect.Effect<Option.Option<Uint8Array>>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void>
}

/** One raw TLS socket as the floor drives it, whatever the runtime. */
export interface FloorSocket {
  readonly conn: Conn
  /** Ends the socket (a graceful close). */
  readonly end: () => void
}

/** The runtime's raw TLS: a listener whose handshaken sockets reach `onSecure`, and a connect. */
export interface FloorNet {
  readonly listen: (onSecure: (socket: FloorSocket) => void) => Promise<{ readonly port: number; readonly close: () => void }>
  readonly connect: (port: number) => Promise<FloorSocket>
}

/** Chunks held before the socket is paused (as a TLS library bounds what it holds). */
export const INBOX_CHUNKS = 16

/**
 * The read side every floor shares: chunks the socket delivered wait in an
 * inbox (the socket paused once it holds `INBOX_CHUNKS`); a read takes one,
 * or waits with one `Effect.async` woken by the next chunk or the end.
 */
export const inbox = (pause: () => void, resume: () => void) => {
  const chunks: Array<Uint8Array> = []
  let ended = false
  let paused = false
  let waiter: ((chunk: Effect.Effect<Option.Option<Uint8Array>>) => void) | undefined
  return {
    data: (chunk: Uint8Array) => {
      if (waiter !== undefined) {
        const wake = waiter
        waiter = undefined
        wake(Effect.succeed(Option.some(chunk)))
        return
      }
      chunks.push(chunk)
      if (chunks.length >= INBOX_CHUNKS && !paused) {
        paused = true
        pause()
      }
    },
    end: () => {
      ended = true
      const wake = waiter
      waiter = undefined
      wake?.(Effect.succeed(Option.none()))
    },
    read: Effect.suspend((): Effect.Effect<Option.Option<Uint8Array>> => {
      const chunk = chunks.shift()
      if (chunk !== undefined) {
        if (paused && chunks.length < INBOX_CHUNKS / 2) {
          paused = false
          resume()
        }
        return Effect.succeed(Option.some(chunk))
      }
      if (ended) return Effect.succeed(Option.none())
      return Effect.async<Option.Option<Uint8Array>>((wake) => {
        waiter = wake
      })
    })
  }
}

const nodeSocket = (socket: tls.TLSSocket): FloorSocket => {
  const box = inbox(() => socket.pause(), () => socket.resume())
  socket.on("data", box.data)
  socket.on("end", box.end)
  const drained = Effect.async<void>((resume) => {
    socket.once("drain", () => resume(Effect.void))
  })
  return {
    conn: { read: box.read, write: (bytes) => Effect.suspend(() => (socket.write(bytes) ? Effect.void : drained)) },
    end: () => socket.end()
  }
}

/** node:tls (`tls.createServer`, `tls.connect`) as a FloorNet. */
const nodeNet = (pems: Pems): FloorNet => {
  const network = direct(pems)
  return {
    listen: (onSecure) => network.listen((socket) => onSecure(nodeSocket(socket))),
    connect: (port) => network.connect(port).then(nodeSocket)
  }
}

/** A client connection, its socket ended when the scope closes. */
const connect = (network: FloorNet, port: number): Effect.Effect<Conn, never, Scope.Scope> =>
  Effect.map(
    Effect.acquireRelease(
      Effect.promise(() => network.connect(port)),
      (socket) => Effect.sync(() => socket.end())
    ),
    (socket) => socket.conn
  )

/** A server that runs `handler` in a fiber of its own for each connection (its socket ended after). */
const listen = (network: FloorNet, handler: (c: Conn) => Effect.Effect<void>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      network.listen((socket) => {
        Effect.runFork(Effect.ensuring(handler(socket.conn), Effect.sync(() => socket.end())))
      })
    ),
    (server) => Effect.sync(() => server.close())
  )

export const make = (name: string, network: FloorNet, sizes: Sizes): Impl => {
  const run = <A>(program: Effect.Effect<A, never, Scope.Scope>): Promise<A> =>
    Effect.runPromise(Effect.scoped(program))

  /** A server and one client connected to it; `accepted` is the server's end (its handler waits forever). */
  const pair = Effect.gen(function*() {
    const accepted = yield* Deferred.make<Conn>()
    const server = yield* listen(network, (c) => Effect.zipRight(Deferred.succeed(accepted, c), Effect.never))
    const client = yield* connect(network, server.port)
    return { client, accepted: yield* Deferred.await(accepted) }
  })
  const payload = new Uint8Array(sizes.chunk).fill(0x61)

  return {
    name,
    bulk: (bytes) => run(oneWay(pair, payload, Math.ceil(bytes / sizes.chunk))),
    writes: (n) => run(oneWay(pair, new Uint8Array(sizes.writeSize).fill(0x62), n)),
    handshakes: (n) =>
      run(Effect.gen(function*() {
        const server = yield* listen(network, () => Effect.void)
        const start = performance.now()
        yield* Effect.forEach(
          Array.from({ length: n }),
          () => Effect.scoped(connect(network, server.port)),
          { concurrency: sizes.concurrency, discard: true }
        )
        return performance.now() - start
      })),
    echo: (n, warmup) =>
      run(Effect.gen(function*() {
        const server = yield* listen(network, echoBack)
        const client = yield* connect(network, server.port)
        return yield* roundTrips(client, sizes.echoSize, n, warmup)
      })),
    idle: (n, hooks) =>
      run(Effect.gen(function*() {
        const count = yield* Ref.make(0)
        const all = yield* Deferred.make<void>()
        const server = yield* listen(network, () =>
          Ref.updateAndGet(count, (k) => k + 1).pipe(
            Effect.tap((k) => (k === n + 1 ? Deferred.succeed(all, undefined) : Effect.void)),
            Effect.zipRight(Effect.never)
          ))
        yield* Effect.scoped(connect(network, server.port))
        yield* Effect.sleep(Duration.millis(50))
        yield* Effect.promise(hooks.before)
        yield* Effect.forEach(Array.from({ length: n }), () => connect(network, server.port), {
          concurrency: sizes.concurrency,
          discard: true
        })
        yield* Deferred.await(all)
        yield* Effect.promise(hooks.after)
      }))
  }
}

/** The Effect floor over node:tls (`tls.createServer`, `tls.connect`). */
export const floor = (pems: Pems, sizes: Sizes): Impl => make("Effect over node:tls", nodeNet(pems), sizes)
