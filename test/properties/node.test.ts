/**
 * Retry properties with the real engine: two engines over node:tls (client
 * and server) joined by the test kit's faulty in-memory pair, driven by the
 * core driver, with virtual time for the transport's delays.
 *
 * A failing or timed-out property prints its seed; replay it with
 * PROPERTY_SEED=<seed> (and PROPERTY_PATH=<path> when fast-check printed one).
 */
import { describe, expect, it } from "@effect/vitest"
import * as RetryPolicy from "@effect-tls/core/RetryPolicy"
import * as Tls from "@effect-tls/core/Tls"
import * as Testing from "@effect-tls/core/testing"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type { TlsEngineFactory } from "@effect-tls/core/TlsEngine"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as NodeTls from "@effect-tls/node/NodeTls"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import { Cause, Effect, Exit, FastCheck as fc, Fiber, Option, Stream } from "effect"
import { afterAll, afterEach, beforeAll } from "vitest"
import { generatePki, type Pki } from "../src/pki.js"

const RUNS = Number(process.env.PROPERTY_RUNS ?? 200)
const SEED = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31))
const replay: { path?: string; endOnFailure?: boolean } = process.env.PROPERTY_SEED === undefined
  ? {}
  : { endOnFailure: true }
if (process.env.PROPERTY_PATH !== undefined) replay.path = process.env.PROPERTY_PATH
const params = { timeout: 120_000, fastCheck: { numRuns: RUNS, verbose: 1, seed: SEED, ...replay } }
afterEach((context) => {
  if (context.task.result?.state === "fail") {
    console.log(`${context.task.name}: replay with PROPERTY_SEED=${SEED}`)
  }
})

let pki: Pki
let factories: { readonly client: TlsEngineFactory; readonly server: TlsEngineFactory }
beforeAll(async () => {
  pki = generatePki()
  factories = await Effect.runPromise(Effect.all({
    client: Effect.flatMap(
      TlsOptions.decodeUpgrade({ role: "client", servername: "localhost", ca: pki.root.cert }),
      (o) => NodeTlsEngine.makeClientFactory(o as TlsOptions.ResolvedClient)
    ),
    server: Effect.flatMap(
      TlsOptions.decodeUpgrade({ role: "server", cert: pki.server.chain, key: pki.server.key }),
      (o) => NodeTlsEngine.makeServerFactory(o as TlsOptions.ResolvedServer)
    )
  }))
})
afterAll(() => pki?.cleanup())

const concatBytes = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0))
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.length
  }
  return out
}

const readAll = (conn: TlsConnection) =>
  Effect.map(Stream.runCollect(conn.stream), (chunks) => concatBytes([...chunks]))

const writeAll = (conn: TlsConnection, messages: ReadonlyArray<Uint8Array>) =>
  Effect.zipRight(Effect.forEach(messages, (m) => conn.write(m), { discard: true }), conn.shutdown)

/** Engines over node:tls, observed. */
const enginePair = Effect.gen(function*() {
  const client = Testing.observeEngine(yield* factories.client.make({ remoteAddress: undefined }))
  const server = Testing.observeEngine(yield* factories.server.make({ remoteAddress: "faulty:a" }))
  return { client, server }
})

const chunkSizes = fc.array(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 65, max: 1500 })), {
  maxLength: 4
})
const delays = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })), { maxLength: 4 })
const faults = fc.record({ chunkSizes, delays })
const message = Testing.arbitraries.message(4000)

/** `[writer][index][length u16]` and the payload: a stream of these can be cut back into messages. */
const tagged = (writer: number, index: number, payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(4 + payload.length)
  out.set([writer, index, payload.length >> 8, payload.length & 0xff])
  out.set(payload, 4)
  return out
}

/** Every message whole, each writer's in the order it wrote them, nothing else. */
const expectWholeAndInOrder = (stream: Uint8Array, writers: ReadonlyArray<ReadonlyArray<Uint8Array>>) => {
  const got: Array<{ writer: number; index: number; payload: Uint8Array }> = []
  let offset = 0
  while (offset + 4 <= stream.length) {
    const length = (stream[offset + 2]! << 8) | stream[offset + 3]!
    if (offset + 4 + length > stream.length) break
    got.push({ writer: stream[offset]!, index: stream[offset + 1]!, payload: stream.subarray(offset + 4, offset + 4 + length) })
    offset += 4 + length
  }
  expect(stream.length - offset, "bytes that are not a whole message").toBe(0)
  writers.forEach((sent, w) => {
    const mine = got.filter((m) => m.writer === w)
    expect(mine.map((m) => m.index), `writer ${w}: in order, each once`).toEqual(sent.map((_, i) => i))
    mine.forEach((m, i) => expect(m.payload).toEqual(sent[i]))
  })
  expect(got.length).toBe(writers.reduce((n, ms) => n + ms.length, 0))
}
const messages = fc.array(message, { maxLength: 4 })

describe("retry properties over node:tls engines", () => {
  it.effect.prop(
    "exactly once, in order: what one side writes the other reads whole and in order, for any chunking and delays",
    { toServer: faults, toClient: faults, c2s: messages, s2c: messages },
    ({ c2s, s2c, toClient, toServer }) =>
      Effect.gen(function*() {
        const { client, server } = yield* enginePair
        const [ct, st] = yield* Testing.makeFaultyPair({ aToB: toServer, bToA: toClient })
        const side = (engine: Testing.TestEngine, transport: Testing.FaultyTransport, out: ReadonlyArray<Uint8Array>) =>
          Effect.scoped(Effect.flatMap(
            Testing.connect(engine.engine, transport),
            (conn) => {
              expect(conn.info.protocol).toBe("TLSv1.3")
              return Effect.all([readAll(conn), writeAll(conn, out)], { concurrency: 2 })
            }
          ))
        const done = yield* Testing.runVirtual(
          Effect.all([side(client, ct, c2s), side(server, st, s2c)], { concurrency: 2 })
        )
        expect(Option.isSome(done), "stuck").toBe(true)
        const exit = Option.getOrThrow(done)
        if (Exit.isFailure(exit)) expect.fail(Cause.pretty(exit.cause))
        if (Exit.isSuccess(exit)) {
          const [[atClient], [atServer]] = exit.value
          expect(atServer).toEqual(concatBytes(c2s))
          expect(atClient).toEqual(concatBytes(s2c))
        }
        for (const { stats } of [client, server]) {
          expect(stats.retriesWithoutInput).toBe(0)
          expect(stats.destroyed).toBe(true)
        }
        expect(ct.stats.closed && st.stats.closed).toBe(true)
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "end of input: a transport that ends early gives TlsUnexpectedEof, never a silent short read",
    { toClient: faults, s2c: messages, endAfter: fc.oneof(fc.integer({ min: 0, max: 6000 }), fc.constant(Number.MAX_SAFE_INTEGER)) },
    ({ endAfter, s2c, toClient }) =>
      Effect.gen(function*() {
        const { client, server } = yield* enginePair
        const [ct, st] = yield* Testing.makeFaultyPair({ bToA: { ...toClient, endAfter } })
        const clientSide = Effect.scoped(Effect.flatMap(Testing.connect(client.engine, ct), (conn) => {
          const got: Array<Uint8Array> = []
          return conn.stream.pipe(
            Stream.runForEach((chunk) => Effect.sync(() => got.push(chunk))),
            Effect.exit,
            Effect.map((exit) => ({ exit, got: concatBytes(got) }))
          )
        }))
        const serverSide = Effect.scoped(Effect.flatMap(Testing.connect(server.engine, st), (conn) => writeAll(conn, s2c)))
        const done = yield* Testing.runVirtual(
          Effect.all([Effect.exit(clientSide), Effect.exit(serverSide)], { concurrency: 2 })
        )
        expect(Option.isSome(done), "stuck").toBe(true)
        const [clientExit] = Exit.getOrElse(Option.getOrThrow(done), () => expect.fail("unreachable"))
        const sent = concatBytes(s2c)
        if (endAfter >= st.stats.bytesWritten) {
          expect(clientExit).toEqual(Exit.succeed({ exit: Exit.void, got: sent }))
        } else if (Exit.isSuccess(clientExit)) {
          const { exit: reading, got } = clientExit.value
          expect(Exit.isFailure(reading) && Cause.failureOption(reading.cause)).toEqual(
            Option.some(expect.objectContaining({ _tag: "TlsUnexpectedEof", phase: "read" }))
          )
          expect(got).toEqual(sent.subarray(0, got.length))
        } else {
          expect(Cause.failureOption(clientExit.cause)).toEqual(
            Option.some(expect.objectContaining({ _tag: "TlsUnexpectedEof", phase: "handshake" }))
          )
        }
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "termination: a real handshake completes under recurs(n) iff n covers the Wants it needs",
    { toClient: faults, n: fc.integer({ min: 0, max: 12 }) },
    ({ n, toClient }) =>
      Effect.gen(function*() {
        // The number of Wants a real handshake needs depends on how its
        // flights are cut; find it with an unbounded policy, then check the
        // bound on a second, identical run.
        const attempt = (policy: RetryPolicy.RetryPolicy) =>
          Effect.gen(function*() {
            const { client, server } = yield* enginePair
            const [ct, st] = yield* Testing.makeFaultyPair({ bToA: toClient })
            const done = yield* Testing.runVirtual(
              Effect.all([
                Effect.exit(Effect.scoped(Testing.connect(client.engine, ct, { retryPolicy: policy }))),
                Effect.exit(Effect.scoped(Testing.connect(server.engine, st)))
              ], { concurrency: 2 })
            )
            const [clientExit] = Exit.getOrElse(Option.getOrThrow(done), () => expect.fail("unreachable"))
            return { exit: clientExit, wants: client.stats.wantReads + client.stats.wantWrites, stats: client.stats }
          }).pipe(Effect.scoped)
        const free = yield* attempt(RetryPolicy.defaultPolicy)
        expect(Exit.isSuccess(free.exit)).toBe(true)
        const k = free.wants
        const bounded = yield* attempt(RetryPolicy.recurs(n))
        if (k <= n) expect(Exit.isSuccess(bounded.exit)).toBe(true)
        else {
          expect(Exit.isFailure(bounded.exit) && Cause.failureOption(bounded.exit.cause)).toEqual(
            Option.some(expect.objectContaining({ _tag: "TlsWantRead", operation: "handshake" }))
          )
          expect(bounded.stats.wantReads + bounded.stats.wantWrites).toBe(n + 1)
        }
        expect(bounded.stats.retriesWithoutInput).toBe(0)
      }).pipe(Effect.scoped),
    params
  )

  it.effect.prop(
    "full duplex: concurrent writers on both sides, each message whole and in its writer's order, never a deadlock",
    {
      capacity: fc.integer({ min: 1, max: 4096 }),
      toServer: faults,
      toClient: faults,
      writers: fc.array(messages, { minLength: 1, maxLength: 3 })
    },
    ({ capacity, toClient, toServer, writers }) =>
      Effect.gen(function*() {
        const { client, server } = yield* enginePair
        const [ct, st] = yield* Testing.makeFaultyPair({ capacity, aToB: toServer, bToA: toClient })
        const side = (engine: Testing.TestEngine, transport: Testing.FaultyTransport) =>
          Effect.scoped(Effect.flatMap(Testing.connect(engine.engine, transport), (conn) => {
            const write = Effect.zipRight(
              Effect.forEach(
                writers,
                (ms, w) => Effect.forEach(ms, (m, i) => conn.write(tagged(w, i, m)), { discard: true }),
                { concurrency: "unbounded", discard: true }
              ),
              conn.shutdown
            )
            return Effect.map(Effect.all([readAll(conn), write], { concurrency: 2 }), ([got]) => got)
          }))
        const done = yield* Testing.runVirtual(
          Effect.all([side(client, ct), side(server, st)], { concurrency: 2 })
        )
        expect(Option.isSome(done), "deadlock: every fiber waits and no timer is pending").toBe(true)
        const exit = Option.getOrThrow(done)
        if (Exit.isFailure(exit)) expect.fail(Cause.pretty(exit.cause))
        if (Exit.isSuccess(exit)) {
          expectWholeAndInOrder(exit.value[0], writers)
          expectWholeAndInOrder(exit.value[1], writers)
        }
      }).pipe(Effect.scoped),
    params
  )
})

describe("per-connection retryPolicy (Tls.upgrade over node:tls)", () => {
  const handshake = (policy: RetryPolicy.RetryPolicy | undefined) =>
    Effect.gen(function*() {
      // The server's flight reaches the client in 64-byte pieces: many Wants.
      const [ct, st] = yield* Testing.makeFaultyPair({ bToA: { chunkSizes: [64] } })
      const server = yield* Effect.fork(Tls.upgrade(st, { role: "server", cert: pki.server.chain, key: pki.server.key }))
      const client = yield* Effect.exit(
        Tls.upgrade(ct, { role: "client", servername: "localhost", ca: pki.root.cert, retryPolicy: policy })
      )
      yield* Fiber.interrupt(server)
      return client
    }).pipe(Effect.scoped, Effect.provide(NodeTls.layer))

  it.live("the default policy completes a handshake cut into 64-byte pieces", () =>
    Effect.map(handshake(undefined), (exit) => expect(Exit.isSuccess(exit)).toBe(true)))

  it.live("retryPolicy: recurs(2) in the options gives up on it with the last TlsWantRead", () =>
    Effect.map(handshake(RetryPolicy.recurs(2)), (exit) =>
      expect(Exit.isFailure(exit) && Cause.failureOption(exit.cause)).toEqual(
        Option.some(expect.objectContaining({ _tag: "TlsWantRead", operation: "handshake" }))
      )))
})
