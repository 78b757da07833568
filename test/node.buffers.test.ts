/**
 * Small writes on Node are gathered in 16 KiB buffers and handed to
 * node:tls together. Those buffers are reused: a new one per batch is
 * memory outside V8's heap, and a stream of small messages (two batches
 * per echo round trip) then made V8 run a full collection every few
 * hundred round trips, which was the echo's 99th percentile. The bench
 * measures the latency; this file pins the cause, by counting the 16 KiB
 * buffers made while small messages go back and forth, on both paths.
 * (What the peer receives is checked by the conformance suite, including
 * while the stream still holds a batch: "handles many small writes back to
 * back".)
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Tls from "@effect-tls/core/Tls"
import * as NodeTls from "@effect-tls/node/NodeTls"
import { Effect, Fiber, Option } from "effect"
import { afterAll } from "vitest"
import { generatePki } from "./src/pki.js"

const BATCH_BUFFER = 16 * 1024

/** Runs `effect`, counting the `Buffer.allocUnsafe` calls of the batch buffer's size it makes. */
const countingBatchBuffers = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const original = Buffer.allocUnsafe
      const counter = { made: 0, original }
      Buffer.allocUnsafe = (size: number) => {
        if (size === BATCH_BUFFER) counter.made++
        return original(size)
      }
      return counter
    }),
    (counter) => Effect.map(effect, () => counter.made),
    (counter) => Effect.sync(() => void (Buffer.allocUnsafe = counter.original))
  )

describe("Node: the buffers that gather small writes are reused", () => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())

  for (const [path, extra] of [["default", {}], ["allowTruncation", { allowTruncation: true }]] as const) {
    layer(NodeTls.layer, { excludeTestServices: true })((it) => {
      it.scoped(`${path}: 1,000 round trips of 64 B make a few batch buffers, not one per batch`, () =>
        Effect.gen(function*() {
          const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key, ...extra })
          const accepting = yield* Effect.fork(server.accept)
          const client = yield* Tls.connect({
            host: "127.0.0.1",
            port: server.address.port,
            servername: "localhost",
            ca: pki.root.cert,
            ...extra
          })
          const accepted = yield* Fiber.join(accepting)
          // The server writes back what it reads: one batch each way per round trip.
          yield* Effect.forkScoped(Effect.forever(Effect.flatMap(accepted.read, (chunk) =>
            Option.isSome(chunk) ? accepted.write(chunk.value) : Effect.never)))
          const message = new Uint8Array(64).fill(7)
          const roundTrip = Effect.gen(function*() {
            yield* client.write(message)
            let got = 0
            while (got < message.length) got += Option.getOrThrow(yield* client.read).length
          })
          yield* Effect.repeatN(roundTrip, 99)
          const made = yield* countingBatchBuffers(Effect.repeatN(roundTrip, 999))
          // 2,000 batches; before the buffers were reused, each made one.
          expect(made).toBeLessThan(50)
        }))
    })
  }
})
