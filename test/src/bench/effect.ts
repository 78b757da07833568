/**
 * effect-tls under measurement, written as a user writes it: `Tls.listen`,
 * `Tls.connect`, `conn.read`, `conn.write`, one scope per run, the layer
 * provided at the edge. Only the packages' public API is used, so the bench
 * keeps working while their internals change.
 */
import { SessionCache, Tls } from "@effect-tls/core"
import { Deferred, Duration, Effect, Fiber, Layer, Option, Ref, type Scope } from "effect"
import type { Impl, Pems, Sizes, Tracing } from "./types.js"

/**
 * An OpenTelemetry SDK tracer for one run: @effect/opentelemetry's
 * NodeSdk with a batch span processor into an in-memory exporter (what an
 * application exporting its spans pays, short of the network). Loaded on
 * first use.
 */
const otelTracer = async (): Promise<Layer.Layer<never>> => {
  const [{ NodeSdk }, { BatchSpanProcessor, InMemorySpanExporter }] = await Promise.all([
    import("@effect/opentelemetry"),
    import("@opentelemetry/sdk-trace-base")
  ])
  return NodeSdk.layer(() => ({
    resource: { serviceName: "effect-tls-bench" },
    spanProcessor: new BatchSpanProcessor(new InMemorySpanExporter())
  })) as Layer.Layer<never>
}

/** What the Effect code of the cases needs of a connection (a `TlsConnection`, or the floor's). */
export interface Endpoint<E> {
  readonly read: Effect.Effect<Option.Option<Uint8Array>, E>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, E>
}

/** Reads until `bytes` arrived in all. */
export const receive = <E>(conn: Endpoint<E>, bytes: number) =>
  Effect.gen(function*() {
    let got = 0
    while (got < bytes) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) return yield* Effect.dieMessage(`the peer closed after ${got} of ${bytes} bytes`)
      got += chunk.value.length
    }
  })

/** The echo server's loop: writes back what it reads, until the end. */
export const echoBack = <E>(conn: Endpoint<E>) =>
  Effect.gen(function*() {
    while (true) {
      const chunk = yield* conn.read
      if (Option.isNone(chunk)) return
      yield* conn.write(chunk.value)
    }
  })

/** The echo client: `warmup + n` round trips of `size` bytes; microseconds of the last `n`. */
export const roundTrips = <E>(client: Endpoint<E>, size: number, n: number, warmup: number) =>
  Effect.gen(function*() {
    const message = new Uint8Array(size).fill(0x63)
    const micros: Array<number> = []
    for (let i = 0; i < warmup + n; i++) {
      const t0 = performance.now()
      yield* client.write(message)
      yield* receive(client, message.length)
      if (i >= warmup) micros.push((performance.now() - t0) * 1000)
    }
    return micros
  })

/** `n` writes of `message`, one `write` Effect each, in this fiber. */
export const writeAll = <E>(conn: Endpoint<E>, message: Uint8Array, n: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < n; i++) yield* conn.write(message)
  })

/**
 * The one-way cases (bulk, small writes): a client writes `n` times
 * `message` in a fiber of its own while the server's end reads; milliseconds
 * from the first write until the reader has every byte.
 */
export const oneWay = <E, R>(
  pair: Effect.Effect<{ readonly client: Endpoint<E>; readonly accepted: Endpoint<E> }, E, R>,
  message: Uint8Array,
  n: number
) =>
  Effect.gen(function*() {
    const { accepted, client } = yield* pair
    const start = performance.now()
    const writer = yield* Effect.fork(writeAll(client, message, n))
    yield* receive(accepted, n * message.length)
    const ms = performance.now() - start
    yield* Fiber.join(writer)
    return ms
  })

export const ours = (
  name: string,
  layer: Layer.Layer<Tls.Tls>,
  pems: Pems,
  sizes: Sizes,
  /** Options both ends get (the opt-in native path: `allowTruncation`). */
  extra: { readonly allowTruncation?: boolean } = {}
): Impl => {
  const serverOptions = { host: "127.0.0.1", port: 0, cert: pems.cert, key: pems.key, ...extra }
  const clientOptions = (port: number) => ({ host: "127.0.0.1", port, servername: "localhost", ca: pems.ca, ...extra })
  const payload = new Uint8Array(sizes.chunk).fill(0x61)

  /**
   * Resumption is off here (`SessionCache.layerDisabled`): every handshake
   * is a full one, as the raw baselines make them (`resumed` provides its
   * own cache).
   */
  const run = <A, E>(
    program: Effect.Effect<A, E, Tls.Tls | SessionCache.SessionCache | Scope.Scope>,
    tracing?: Layer.Layer<never>
  ): Promise<A> =>
    Effect.runPromise(
      program.pipe(
        Effect.scoped,
        Effect.provide(tracing === undefined ? layer : Layer.merge(layer, tracing)),
        Effect.provide(SessionCache.layerDisabled)
      )
    )

  /** `n` full handshakes, `concurrency` at a time: milliseconds. */
  const handshakes = (n: number) =>
    Effect.gen(function*() {
      const server = yield* Tls.listen(serverOptions)
      yield* Effect.forkScoped(server.serve(() => Effect.void))
      const start = performance.now()
      yield* Effect.forEach(
        Array.from({ length: n }),
        () => Tls.connect(clientOptions(server.address.port)).pipe(Effect.scoped),
        { concurrency: sizes.concurrency, discard: true }
      )
      return performance.now() - start
    })

  /** A server and one client connected to it; `accepted` is the server's end. */
  const pair = Effect.gen(function*() {
    const server = yield* Tls.listen(serverOptions)
    const accepting = yield* Effect.fork(server.accept)
    const client = yield* Tls.connect(clientOptions(server.address.port))
    const accepted = yield* Fiber.join(accepting)
    return { server, client, accepted }
  })

  const oneWayOurs = (message: Uint8Array, n: number) => run(oneWay(pair, message, n))

  return {
    name,
    bulk: (bytes) => oneWayOurs(payload, Math.ceil(bytes / sizes.chunk)),
    handshakes: (n) => run(handshakes(n)),
    tracedHandshakes: async (n: number, tracing: Tracing) =>
      tracing === "off"
        ? run(Effect.withTracerEnabled(handshakes(n), false))
        : run(handshakes(n), await otelTracer()),
    resumed: (n) =>
      run(Effect.gen(function*() {
        const server = yield* Tls.listen(serverOptions)
        // The server writes a byte after each handshake: a client that reads
        // it has every ticket sent before it.
        yield* Effect.forkScoped(server.serve((c) => c.write("x")))
        const memory = yield* SessionCache.makeMemory({ capacity: 4 * n + 64, perKey: 4 * n + 64 })
        let kept = 0
        // Gathering makes full handshakes only (it offers nothing), and counts what it keeps.
        const gathering: SessionCache.SessionCacheService = {
          take: () => Effect.succeedNone,
          put: (key, session) => Effect.zipRight(memory.put(key, session), Effect.sync(() => void kept++))
        }
        const connectWith = (cache: SessionCache.SessionCacheService) =>
          Tls.connect(clientOptions(server.address.port)).pipe(Effect.provideService(SessionCache.SessionCache, cache))
        const connect = connectWith(memory)
        const gather = Effect.scoped(Effect.flatMap(connectWith(gathering), (c) => c.read))
        while (kept < n) {
          yield* Effect.forEach(Array.from({ length: sizes.concurrency }), () => gather, {
            concurrency: sizes.concurrency,
            discard: true
          })
        }
        let reused = 0
        const start = performance.now()
        yield* Effect.forEach(
          Array.from({ length: n }),
          () => Effect.scoped(Effect.map(connect, (c) => void (c.info.sessionReused && reused++))),
          { concurrency: sizes.concurrency, discard: true }
        )
        const ms = performance.now() - start
        if (reused < n) return yield* Effect.dieMessage(`${n - reused} of ${n} handshakes did not resume`)
        return ms
      })),
    writes: (n) => oneWayOurs(new Uint8Array(sizes.writeSize).fill(0x62), n),
    echo: (n, warmup) =>
      run(Effect.gen(function*() {
        const { accepted, client } = yield* pair
        yield* Effect.forkScoped(echoBack(accepted))
        return yield* roundTrips(client, sizes.echoSize, n, warmup)
      })),
    idle: (n, hooks) =>
      run(Effect.gen(function*() {
        const server = yield* Tls.listen(serverOptions)
        const count = yield* Ref.make(0)
        const all = yield* Deferred.make<void>()
        // Each accepted connection stays open in its handler's scope.
        yield* Effect.forkScoped(server.serve(() =>
          Ref.updateAndGet(count, (k) => k + 1).pipe(
            Effect.tap((k) => (k === n + 1 ? Deferred.succeed(all, undefined) : Effect.void)),
            Effect.zipRight(Effect.never)
          )
        ))
        // A first pair comes and goes before the baseline.
        yield* Effect.scoped(Tls.connect(clientOptions(server.address.port)))
        yield* Effect.sleep(Duration.millis(50))
        yield* Effect.promise(hooks.before)
        const clients = yield* Effect.forEach(
          Array.from({ length: n }),
          () => Tls.connect(clientOptions(server.address.port)),
          { concurrency: sizes.concurrency }
        )
        yield* Deferred.await(all)
        yield* Effect.promise(hooks.after)
        return clients.length
      })).then(() => undefined),
    peak: (hooks) =>
      run(Effect.gen(function*() {
        const { client } = yield* pair // the server's end is never read
        yield* Effect.promise(hooks.start)
        let written = 0
        const writer = Effect.gen(function*() {
          while (written < sizes.peakBytes) {
            yield* client.write(payload)
            written += payload.length
          }
        })
        yield* Effect.timeoutOption(writer, Duration.millis(sizes.peakSeconds * 1000))
        yield* Effect.promise(() => hooks.done(written))
      }))
  }
}
