/**
 * Throughput and peak memory on Bun: effect-tls's layers against raw Bun
 * TLS sockets (`Bun.listen` / `Bun.connect` with `tls`), measured in the
 * same process run. Client and server live in this process, loopback,
 * TLS 1.3. Not a test: it prints numbers and ratios.
 *
 *   bun test/dist/src/bunbench.js [MiB=1024] [slowMiB=64] [handshakes=500]
 *
 * Each path moves MiB one way with a reader as fast as it can go, then
 * slowMiB with a reader that waits 2 ms per chunk, and reports the peak
 * resident memory above the run's baseline (sampled every 10 ms). The slow
 * reader shows whether buffers stay bounded when the writer is faster.
 * Then it counts full handshakes per second, 16 clients at a time.
 *
 * `BunTls.layer` here runs on Bun's native TLS sockets at both ends;
 * `BunTls.layerSansIo` runs node:tls (as Bun implements it) over an
 * in-memory Duplex, over Bun sockets. On the 2-core development machine
 * (2026-11-24, 1 GiB): raw 0.59-0.68 s; BunTls.layer 1.15-1.30x raw, peak
 * +75-79 MiB (raw +49); layerSansIo 1.98-2.4x raw, peak +109-127 MiB;
 * slow readers peaked at +28-30 MiB (native) and +46-65 MiB (sans-IO).
 * Handshakes: raw ~2570/s, BunTls.layer ~820/s (3.1x raw's time),
 * layerSansIo ~660/s (3.9x); the gap is per-connection Effect work (fibers,
 * scopes, finalizers) on both ends, which share this process.
 */
import { Tls } from "@effect-tls/core"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import { Effect, Fiber, type Layer, Option } from "effect"
import { generatePki } from "./pki.js"

const MiB = 1024 * 1024
const total = Number(process.argv[2] ?? 1024) * MiB
const slowTotal = Number(process.argv[3] ?? 64) * MiB
const handshakes = Number(process.argv[4] ?? 500)
const CONCURRENT = 16
const CHUNK = 64 * 1024
const SLOW_WAIT_MS = 2

declare const Bun: {
  listen: (options: unknown) => { port: number; stop: (closeActive?: boolean) => void }
  connect: (options: unknown) => Promise<unknown>
  gc: (force: boolean) => void
  sleep: (ms: number) => Promise<void>
}

interface Result {
  readonly seconds: number
  readonly peakMiB: number
}

/** Peak RSS above the baseline while `f` runs. */
const measure = async (f: () => Promise<void>): Promise<Result> => {
  Bun.gc(true)
  await Bun.sleep(50)
  const baseline = process.memoryUsage().rss
  let peak = baseline
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss)
  }, 10)
  const start = performance.now()
  await f()
  const seconds = (performance.now() - start) / 1000
  clearInterval(timer)
  peak = Math.max(peak, process.memoryUsage().rss)
  return { seconds, peakMiB: (peak - baseline) / MiB }
}

const pki = generatePki()
process.on("exit", () => pki.cleanup())
const payload = new Uint8Array(CHUNK).fill(0x61)

/** Raw Bun TLS: the writer writes while the kernel takes it, waits for `drain`. */
const rawBun = (bytes: number, slow: boolean) =>
  new Promise<void>((resolve, reject) => {
    let received = 0
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: pki.server.chain, key: pki.server.key },
      socket: {
        data(socket: { pause(): void; resume(): void; end(): void }, chunk: Uint8Array) {
          received += chunk.length
          if (slow) {
            socket.pause()
            setTimeout(() => socket.resume(), SLOW_WAIT_MS)
          }
          if (received >= bytes) {
            socket.end()
            server.stop(true)
            resolve()
          }
        },
        error(_: unknown, e: unknown) {
          reject(e)
        }
      }
    })
    let sent = 0
    let offset = 0
    const pump = (socket: { write(b: Uint8Array): number }) => {
      while (sent < bytes) {
        const view = offset === 0 ? payload : payload.subarray(offset)
        const n = socket.write(view)
        if (n <= 0) return
        sent += n
        offset = (offset + n) % CHUNK
        if (n < view.length) return
      }
    }
    Bun.connect({
      hostname: "127.0.0.1",
      port: server.port,
      tls: { ca: pki.root.cert, serverName: "localhost" },
      socket: {
        open: pump,
        drain: pump,
        data() {},
        error(_: unknown, e: unknown) {
          reject(e)
        }
      }
    }).catch(reject)
  })

/** Raw Bun TLS handshakes: each client connects, completes its handshake and closes. */
const rawHandshakes = (n: number) =>
  new Promise<void>((resolve, reject) => {
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: pki.server.chain, key: pki.server.key },
      socket: { data() {}, error() {} }
    })
    let started = 0
    let done = 0
    const one = () => {
      if (started >= n) return
      started++
      Bun.connect({
        hostname: "127.0.0.1",
        port: server.port,
        tls: { ca: pki.root.cert, serverName: "localhost" },
        socket: {
          open(socket: { end(): void }) {
            socket.end()
          },
          close() {
            if (++done === n) {
              server.stop(true)
              resolve()
            } else one()
          },
          data() {},
          error(_: unknown, e: unknown) {
            reject(e)
          }
        }
      }).catch(reject)
    }
    for (let i = 0; i < CONCURRENT; i++) one()
  })

/** Handshakes through a layer: the server completes each and closes it. */
const layerHandshakes = (layer: Layer.Layer<Tls.Tls>, n: number) =>
  Effect.gen(function*() {
    const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
    yield* Effect.forkScoped(server.serve(() => Effect.void))
    yield* Effect.forEach(
      Array.from({ length: n }),
      () => Tls.connect({ host: "localhost", port: server.address.port, ca: pki.root.cert }).pipe(Effect.scoped),
      { concurrency: CONCURRENT, discard: true }
    )
  }).pipe(Effect.scoped, Effect.provide(layer), Effect.runPromise)

/** The same transfer through a layer's `Tls` service. */
const throughLayer = (layer: Layer.Layer<Tls.Tls>, bytes: number, slow: boolean) =>
  Effect.gen(function*() {
    const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
    const reader = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
      const c: TlsConnection = yield* server.accept
      let received = 0
      while (received < bytes) {
        const chunk = yield* c.read
        if (Option.isNone(chunk)) return yield* Effect.dieMessage(`closed after ${received}`)
        received += chunk.value.length
        if (slow) yield* Effect.sleep(SLOW_WAIT_MS)
      }
    })))
    const client = yield* Tls.connect({ host: "localhost", port: server.address.port, ca: pki.root.cert })
    for (let sent = 0; sent < bytes; sent += CHUNK) yield* client.write(payload)
    yield* Fiber.join(reader)
  }).pipe(Effect.scoped, Effect.provide(layer), Effect.runPromise)

const main = async () => {
  const bun = await import("@effect-tls/bun")
  const paths: ReadonlyArray<readonly [string, (bytes: number, slow: boolean) => Promise<void>]> = [
    ["raw Bun TLS (Bun.connect/Bun.listen tls)", rawBun],
    ["BunTls.layer", (b, s) => throughLayer(bun.BunTls.layer, b, s)],
    ["BunTls.layerSansIo", (b, s) => throughLayer(bun.BunTls.layerSansIo, b, s)]
  ]
  const results: Array<readonly [string, Result, Result]> = []
  for (const [name, run] of paths) {
    const fast = await measure(() => run(total, false))
    const slow = await measure(() => run(slowTotal, true))
    results.push([name, fast, slow])
    console.log(
      `${name}: ${total / MiB} MiB in ${fast.seconds.toFixed(2)} s (${(total / MiB / fast.seconds).toFixed(0)} MiB/s), ` +
        `peak +${fast.peakMiB.toFixed(0)} MiB; slow reader ${slowTotal / MiB} MiB: peak +${slow.peakMiB.toFixed(0)} MiB`
    )
  }
  const [, raw] = results[0]!
  console.log(`\nratios (time / raw Bun TLS time), ${total / MiB} MiB one way:`)
  for (const [name, fast] of results.slice(1)) console.log(`  ${name}: ${(fast.seconds / raw.seconds).toFixed(2)}x`)

  const rates: Array<readonly [string, number]> = []
  const handshakePaths: ReadonlyArray<readonly [string, () => Promise<void>]> = [
    ["raw Bun TLS", () => rawHandshakes(handshakes)],
    ["BunTls.layer", () => layerHandshakes(bun.BunTls.layer, handshakes)],
    ["BunTls.layerSansIo", () => layerHandshakes(bun.BunTls.layerSansIo, handshakes)]
  ]
  console.log(`\nfull handshakes, ${CONCURRENT} at a time:`)
  for (const [name, run] of handshakePaths) {
    const { seconds } = await measure(run)
    rates.push([name, handshakes / seconds])
    console.log(`  ${name}: ${(handshakes / seconds).toFixed(0)}/s`)
  }
  const rawRate = rates[0]![1]
  for (const [name, rate] of rates.slice(1)) console.log(`  ${name}: ${(rawRate / rate).toFixed(2)}x raw's time per handshake`)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
