/**
 * Throughput and handshake rate of effect-tls against raw node:tls, measured
 * in the same process run, printed as ratios.
 *
 *   npm run bench                 # 256 MiB one way, 200 handshakes
 *   npm run bench -- 1024 500     # 1 GiB, 500 handshakes
 */
import { Tls } from "@effect-tls/core"
import { NodeTls } from "@effect-tls/node"
import { Effect, Fiber, Option } from "effect"
import type { AddressInfo } from "node:net"
import * as tls from "node:tls"
import { generatePki, type Pki } from "./pki.js"

const MiB = 1024 * 1024
const mib = Number(process.argv[2] ?? 256)
const handshakes = Number(process.argv[3] ?? 200)
const CHUNK = 64 * 1024

const rawThroughput = (pki: Pki, bytes: number) =>
  new Promise<number>((resolve, reject) => {
    const server = tls.createServer({ cert: pki.server.chain, key: pki.server.key }, (socket) => {
      let got = 0
      socket.on("data", (d: Buffer) => {
        got += d.length
        if (got >= bytes) {
          const elapsed = performance.now() - start
          socket.end()
          server.close()
          resolve(elapsed)
        }
      })
    })
    let start = 0
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port
      const client = tls.connect({ host: "localhost", port, ca: pki.root.cert }, () => {
        start = performance.now()
        const chunk = Buffer.alloc(CHUNK, 1)
        let sent = 0
        const pump = () => {
          while (sent < bytes) {
            sent += CHUNK
            if (!client.write(chunk)) return client.once("drain", pump)
          }
        }
        pump()
      })
      client.on("error", reject)
      client.on("data", () => {})
    })
  })

const ourThroughput = (pki: Pki, bytes: number) =>
  Effect.gen(function*() {
    const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
    const accepting = yield* Effect.fork(server.accept)
    const client = yield* Tls.connect({ host: "localhost", port: server.address.port, ca: pki.root.cert })
    const conn = yield* Fiber.join(accepting)
    const chunk = Buffer.alloc(CHUNK, 1)
    const start = performance.now()
    yield* Effect.fork(
      Effect.gen(function*() {
        for (let sent = 0; sent < bytes; sent += CHUNK) yield* client.write(chunk)
      })
    )
    let got = 0
    while (got < bytes) {
      const d = yield* conn.read
      if (Option.isNone(d)) break
      got += d.value.length
    }
    return performance.now() - start
  }).pipe(Effect.scoped)

const rawHandshakes = (pki: Pki, n: number) =>
  new Promise<number>((resolve) => {
    const server = tls.createServer({ cert: pki.server.chain, key: pki.server.key }, (s) => s.end())
    server.listen(0, "127.0.0.1", async () => {
      const port = (server.address() as AddressInfo).port
      const start = performance.now()
      let next = 0
      const worker = () =>
        new Promise<void>((done) => {
          const one = () => {
            if (next++ >= n) return done()
            const c = tls.connect({ host: "localhost", port, ca: pki.root.cert }, () => {
              c.destroy()
              one()
            })
            c.on("error", () => one())
          }
          one()
        })
      await Promise.all(Array.from({ length: 16 }, worker))
      server.close()
      resolve(performance.now() - start)
    })
  })

const ourHandshakes = (pki: Pki, n: number) =>
  Effect.gen(function*() {
    const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
    yield* Effect.forkScoped(server.serve(() => Effect.void))
    const start = performance.now()
    yield* Effect.forEach(
      Array.from({ length: n }),
      () => Tls.connect({ host: "localhost", port: server.address.port, ca: pki.root.cert }).pipe(Effect.scoped),
      { concurrency: 16, discard: true }
    )
    return performance.now() - start
  }).pipe(Effect.scoped)

const main = Effect.gen(function*() {
  const pki = yield* Effect.acquireRelease(Effect.sync(generatePki), (p) => Effect.sync(p.cleanup))
  const bytes = mib * MiB
  console.log(`node ${process.version}, ${mib} MiB one way, ${handshakes} handshakes (16 concurrent)`)
  const raw = yield* Effect.promise(() => rawThroughput(pki, bytes))
  const ours = yield* ourThroughput(pki, bytes)
  console.log(`throughput  node:tls ${(mib / (raw / 1000)).toFixed(0)} MiB/s   effect-tls ${(mib / (ours / 1000)).toFixed(0)} MiB/s   time ratio ${(ours / raw).toFixed(2)}x`)
  const rawH = yield* Effect.promise(() => rawHandshakes(pki, handshakes))
  const ourH = yield* ourHandshakes(pki, handshakes)
  console.log(`handshakes  node:tls ${(handshakes / (rawH / 1000)).toFixed(0)}/s   effect-tls ${(handshakes / (ourH / 1000)).toFixed(0)}/s   time ratio ${(ourH / rawH).toFixed(2)}x`)
  const mem = process.memoryUsage()
  console.log(`memory      rss ${(mem.rss / MiB).toFixed(0)} MiB`)
})

Effect.runPromise(main.pipe(Effect.scoped, Effect.provide(NodeTls.layer))).catch((e) => {
  console.error(e)
  process.exit(1)
})
