/**
 * Conformance, part three: writes, closes and waits under concurrency and
 * interruption, written once and run against every layer that provides
 * `Tls` (`driverConformance(name, layer)`).
 *
 * Each test states one guarantee of the driver and would fail if it were
 * broken: no byte `write` accepted is lost when the scope closes, writes
 * are whole with respect to each other, an interrupted write breaks the
 * connection instead of letting later bytes follow, unrelated socket events
 * never spend a read's retries, and closing a listener never waits for the
 * connections taken from it.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as RetryPolicy from "@effect-tls/core/RetryPolicy"
import * as Testing from "@effect-tls/core/testing"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as Transport from "@effect-tls/core/Transport"
import { Effect, Exit, Fiber, type Layer, Option, Scope } from "effect"
import { afterAll } from "vitest"
import { generatePki } from "../src/pki.js"
import { acceptOne, collect, type Differences, failureOf, optionsFor, randomBytes, seededRandom } from "./support.js"

/**
 * Three 1 MiB writes of distinct bytes started together on `client`: the
 * peer must see three whole runs, in the order the writes started.
 */
const threeWritersAtOnce = (client: TlsConnection, server: TlsConnection) =>
  Effect.gen(function*() {
    const size = 1024 * 1024
    const writers = [1, 2, 3].map((v) => Buffer.alloc(size, v))
    const reading = yield* Effect.fork(collect(server, writers.length * size))
    yield* Effect.forEach(writers, (w) => client.write(w), { concurrency: "unbounded", discard: true })
    const runs = runsOf(yield* Fiber.join(reading))
    expect(runs).toEqual([[1, size], [2, size], [3, size]])
  })

export interface DriverSuiteOptions {
  readonly differences?: Differences
  /** Options every connection of the suite gets (`allowTruncation`: the native path). */
  readonly common?: Partial<TlsOptions.CommonOptions>
}

/** Everything a connection delivers until it ends, and how it ended. */
const readToEnd = (c: TlsConnection) =>
  Effect.gen(function*() {
    const chunks: Array<Uint8Array> = []
    for (;;) {
      const next = yield* Effect.exit(c.read)
      if (Exit.isFailure(next)) return { bytes: Buffer.concat(chunks), end: failureOf(next) ?? "defect" }
      if (Option.isNone(next.value)) return { bytes: Buffer.concat(chunks), end: "clean" as const }
      chunks.push(next.value.value)
    }
  })

/** Runs of equal bytes, as `[value, length]`. */
const runsOf = (bytes: Uint8Array): Array<readonly [number, number]> => {
  const runs: Array<[number, number]> = []
  for (const b of bytes) {
    const last = runs[runs.length - 1]
    if (last !== undefined && last[0] === b) last[1]++
    else runs.push([b, 1])
  }
  return runs
}

export const driverConformance = (
  name: string,
  tlsLayer: Layer.Layer<Tls.Tls>,
  suiteOptions: DriverSuiteOptions = {}
) => {
  const common = suiteOptions.common ?? {}
  const pki = generatePki()
  afterAll(() => pki.cleanup())

  const { clientOptions, serverOptions } = optionsFor(pki, common)
  const serverUpgrade = { role: "server" as const, cert: pki.server.chain, key: pki.server.key }
  const clientUpgrade = { role: "client" as const, servername: "localhost", ca: pki.root.cert }

  describe(`writes, closes and waits: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      describe("handshake deadlines", () => {
        it.scoped("a server's handshake over a memory pair whose client says nothing ends at handshakeTimeout", () =>
          Effect.gen(function*() {
            const [, server] = yield* Transport.makeMemoryPair()
            const failure = yield* Effect.flip(Tls.upgrade(server, { ...serverUpgrade, handshakeTimeout: "100 millis" }))
            expect(failure).toMatchObject({ _tag: "TlsTimeoutError", phase: "handshake", millis: 100 })
          }))

        it.scoped("a client's handshake over a memory pair whose server says nothing ends at handshakeTimeout", () =>
          Effect.gen(function*() {
            const [client] = yield* Transport.makeMemoryPair()
            const failure = yield* Effect.flip(Tls.upgrade(client, { ...clientUpgrade, handshakeTimeout: "100 millis" }))
            expect(failure).toMatchObject({ _tag: "TlsTimeoutError", phase: "handshake", millis: 100 })
          }))
      })

      describe("closing", () => {
        it.scoped("closing the scope delivers every byte write accepted, over a pipe the peer is not reading yet", () =>
          Effect.gen(function*() {
            // The in-memory pipe holds 256 KiB and suspends a write until
            // there is room: when the scope closes, ciphertext is still
            // waiting for the transport.
            const [ct, st] = yield* Transport.makeMemoryPair()
            const serverFiber = yield* Effect.fork(Tls.upgrade(st, serverUpgrade))
            const clientScope = yield* Scope.make()
            const client = yield* Tls.upgrade(ct, clientUpgrade).pipe(Scope.extend(clientScope))
            // Both handshakes are over before the write, so nobody reads the pipe.
            const server = yield* Fiber.join(serverFiber)
            const payload = randomBytes(270_000, seededRandom(10))
            yield* client.write(payload)
            const closing = yield* Effect.fork(Scope.close(clientScope, Exit.void))
            // The client's close is under way; only now does the peer read.
            yield* Effect.sleep("200 millis")
            const got = yield* readToEnd(server)
            expect(got.end).toBe("clean")
            expect(got.bytes.length).toBe(payload.length)
            expect(got.bytes.equals(payload)).toBe(true)
            yield* Fiber.join(closing)
          }))

        it.scoped("closing the scope delivers every byte write accepted, over TCP to a peer that reads late", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const payload = randomBytes(24 * 1024 * 1024, seededRandom(11))
            const client = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
              const c = yield* Tls.connect(clientOptions(port))
              yield* c.write(payload)
            })))
            const server = yield* result.pipe(Effect.flatten)
            // Kernel and transport buffers hold a good part of the payload
            // when the write completes and the client's scope closes.
            yield* Effect.sleep("300 millis")
            const got = yield* readToEnd(server)
            expect(got.end).toBe("clean")
            expect(got.bytes.length).toBe(payload.length)
            expect(got.bytes.equals(payload)).toBe(true)
            expect(Exit.isSuccess(yield* Fiber.await(client))).toBe(true)
          }))

        it.scoped("closing a listener does not wait for the connections taken from it, and frees its port", () =>
          Effect.gen(function*() {
            const listenerScope = yield* Scope.make()
            const server = yield* Tls.listen(serverOptions()).pipe(Scope.extend(listenerScope))
            const port = server.address.port
            const accepted = yield* Effect.fork(server.accept)
            const client = yield* Tls.connect(clientOptions(port))
            const conn = yield* Fiber.join(accepted)
            const closing = yield* Effect.exit(Effect.timeout(Scope.close(listenerScope, Exit.void), "3 seconds"))
            expect(Exit.isSuccess(closing)).toBe(true)
            // The connection taken from it lives on, and the port is free.
            yield* client.write("still here")
            expect(Buffer.from(yield* collect(conn, 10)).toString()).toBe("still here")
            const again = yield* Tls.listen(serverOptions({ port }))
            expect(again.address.port).toBe(port)
          }))
      })

      describe("concurrent writers", () => {
        it.scoped("writes started together arrive whole, one after the other, in the order they started (TCP)", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port))
            const server = yield* result.pipe(Effect.flatten)
            yield* threeWritersAtOnce(client, server)
          }))

        it.scoped("writes started together arrive whole, in the order they started, over a pipe that delivers 1,500-byte pieces", () =>
          Effect.gen(function*() {
            // Both directions deliver 1,500-byte pieces, as a network would.
            const pieces = { chunkSizes: [1500] }
            const [ct, st] = yield* Testing.makeFaultyPair({ capacity: 64 * 1024, aToB: pieces, bToA: pieces })
            const serverFiber = yield* Effect.fork(Tls.upgrade(st, serverUpgrade))
            const client = yield* Tls.upgrade(ct, clientUpgrade)
            const server = yield* Fiber.join(serverFiber)
            yield* threeWritersAtOnce(client, server)
          }))
      })

      describe("buffers", () => {
        it.scoped("a caller may reuse its buffer as soon as write completes: the peer gets what was written", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port))
            const server = yield* result.pipe(Effect.flatten)
            // Small writes (coalesced), a record-sized one and a large one,
            // each overwritten the moment its write completes.
            const sizes = [100, 100, 3000, 16 * 1024, 200_000, 100]
            const expected: Array<Uint8Array> = []
            const reading = yield* Effect.fork(collect(server, sizes.reduce((a, b) => a + b, 0)))
            const buffer = Buffer.alloc(200_000)
            for (const [i, size] of sizes.entries()) {
              const view = buffer.subarray(0, size).fill(i + 1)
              expected.push(Buffer.from(view))
              yield* client.write(view)
              view.fill(0xee)
            }
            expect(Buffer.compare(yield* Fiber.join(reading), Buffer.concat(expected))).toBe(0)
          }))
      })

      describe("interrupted writes", () => {
        it.scoped("a write interrupted part-way breaks the connection: later writes fail, the peer sees an error", () =>
          Effect.gen(function*() {
            // A 64 KiB pipe that the peer does not read: the 4 MiB write
            // stops part-way, and is interrupted there.
            const [ct, st] = yield* Transport.makeMemoryPair({ capacity: 64 * 1024 })
            const serverFiber = yield* Effect.fork(Tls.upgrade(st, serverUpgrade))
            const clientScope = yield* Scope.make()
            const client = yield* Tls.upgrade(ct, clientUpgrade).pipe(Scope.extend(clientScope))
            const server = yield* Fiber.join(serverFiber)
            const big = Buffer.alloc(4 * 1024 * 1024, 0x61)
            const writing = yield* Effect.fork(client.write(big))
            yield* Effect.sleep("100 millis")
            yield* Fiber.interrupt(writing)

            const mark = failureOf(yield* Effect.exit(client.write("MARK")))
            expect(mark).toMatchObject({ _tag: "TlsClosedError", reason: "WriteInterrupted", size: big.length })
            const written = (mark as { written: number }).written
            expect(written).toBeGreaterThan(0)
            expect(written).toBeLessThan(big.length)
            // Sticky: every later call fails with the same error.
            expect(failureOf(yield* Effect.exit(client.read))).toEqual(mark)
            expect(failureOf(yield* Effect.exit(client.shutdown))).toEqual(mark)

            const reading = yield* Effect.fork(readToEnd(server))
            yield* Scope.close(clientScope, Exit.void)
            const got = yield* Fiber.join(reading)
            // A cut-off prefix of the big write, never "MARK", never a clean end.
            expect(got.bytes.length).toBeLessThanOrEqual(written)
            expect(got.bytes.every((b) => b === 0x61)).toBe(true)
            expect(got.end).toMatchObject({ _tag: "TlsUnexpectedEof" })
          }))

        it.scoped("a write interrupted before it was taken leaves the connection healthy", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port))
            const server = yield* result.pipe(Effect.flatten)
            // A write that holds the write lock, and a second one queued behind it.
            const first = yield* Effect.fork(client.write(Buffer.alloc(64 * 1024 * 1024, 1)))
            const second = yield* Effect.fork(client.write("never taken"))
            yield* Fiber.interrupt(second)
            const reading = yield* Effect.fork(collect(server, 64 * 1024 * 1024 + 5))
            yield* Fiber.join(first)
            yield* client.write("after")
            const got = yield* Fiber.join(reading)
            expect(got.subarray(0, 64 * 1024 * 1024).every((b) => b === 1)).toBe(true)
            expect(got.subarray(64 * 1024 * 1024).toString()).toBe("after")
          }))

        it.scoped("a write waiting for room, interrupted, sends none of its bytes and leaves the connection healthy", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port))
            const server = yield* result.pipe(Effect.flatten)
            // The server does not read: writes of 4 KiB (each taken whole or
            // not at all, on every engine) go on until one waits for room,
            // and that one is interrupted while it waits.
            const piece = Buffer.alloc(4096, 1)
            let accepted = 0
            for (;;) {
              const done = yield* Effect.timeoutOption(client.write(piece), "200 millis")
              if (Option.isNone(done)) break
              accepted += piece.length
            }
            expect(accepted).toBeGreaterThan(0)
            const reading = yield* Effect.fork(collect(server, accepted + 5))
            yield* client.write("after")
            const got = yield* Fiber.join(reading)
            // Every accepted byte, then "after": nothing of the interrupted write between them.
            expect(got.subarray(0, accepted).every((b) => b === 1)).toBe(true)
            expect(got.subarray(accepted).toString()).toBe("after")
          }))
      })

      describe("reads that wait", () => {
        it.scoped("a waiting reader gets a message that fills whole TLS records (16 KiB, 64 KiB), then one a byte longer", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port))
            const server = yield* result.pipe(Effect.flatten)
            for (const size of [16 * 1024, 64 * 1024, 16 * 1024 + 1]) {
              // The reader waits before the message is written.
              const reading = yield* Effect.fork(collect(server, size))
              yield* Effect.yieldNow()
              yield* client.write(Buffer.alloc(size, size & 0xff))
              const got = yield* Fiber.join(reading)
              expect(got.length).toBe(size)
              expect(got.every((b) => b === (size & 0xff))).toBe(true)
            }
          }))
      })

      describe("events that are not data", () => {
        it.scoped("a pending read spends no retry on socket events of a concurrent upload", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port, { retryPolicy: RetryPolicy.recurs(3) }))
            const server = yield* result.pipe(Effect.flatten)
            // A round trip first, so that session tickets are behind us.
            yield* server.write("ready")
            expect(Buffer.from(yield* collect(client, 5)).toString()).toBe("ready")
            const pending = yield* Effect.fork(client.read)
            // 16 MiB to a peer that reads them: many socket events on the client.
            const size = 16 * 1024 * 1024
            const draining = yield* Effect.fork(collect(server, size))
            yield* client.write(Buffer.alloc(size, 7))
            yield* Fiber.join(draining)
            yield* server.write("hello")
            const got = yield* Fiber.join(pending)
            expect(Option.map(got, (b) => Buffer.from(b).toString())).toEqual(Option.some("hello"))
          }))
      })
    })
  })
}
