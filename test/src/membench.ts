import { Tls, Transport } from "@effect-tls/core"
import { NodeTls } from "@effect-tls/node"
import { Effect, Fiber, Option } from "effect"
import { generatePki } from "./pki.js"

const MiB = 1024 * 1024
const mib = Number(process.argv[2] ?? 256)
const main = Effect.gen(function*() {
  const pki = yield* Effect.acquireRelease(Effect.sync(generatePki), (p) => Effect.sync(p.cleanup))
  const [a, b] = yield* Transport.makeMemoryPair({ capacity: 1024 * 1024 })
  const sf = yield* Effect.fork(Tls.upgrade(b, { role: "server", cert: pki.server.chain, key: pki.server.key }))
  const client = yield* Tls.upgrade(a, { role: "client", servername: "localhost", ca: pki.root.cert })
  const server = yield* Fiber.join(sf)
  const bytes = mib * MiB
  const chunk = Buffer.alloc(65536, 1)
  const start = performance.now()
  yield* Effect.fork(Effect.gen(function*() {
    for (let sent = 0; sent < bytes; sent += 65536) yield* client.write(chunk)
  }))
  let got = 0
  let reads = 0
  while (got < bytes) {
    const d = yield* server.read
    if (Option.isNone(d)) break
    got += d.value.length
    reads++
  }
  const ms = performance.now() - start
  console.log(`memory pair: ${(mib / (ms / 1000)).toFixed(0)} MiB/s, ${reads} reads`)
})
Effect.runPromise(main.pipe(Effect.scoped, Effect.provide(NodeTls.layer)))
