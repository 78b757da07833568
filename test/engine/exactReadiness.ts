/**
 * The node:tls engine knows exactly when node:tls has caught up with its
 * input, on Node and on Bun: a whole record fed gives its plaintext in the
 * same synchronous step, and an engine that has nothing more to say
 * answers TlsWantRead at once, without waiting for the event loop.
 *
 * `Effect.runSync` fails on any asynchronous step, so each check below
 * would fail if the engine waited for a timer or an event-loop turn.
 * Run by test/engine.node.test.ts and test/bun.engine.test.ts.
 */
import { describe, expect, it } from "@effect/vitest"
import type { TlsEngine } from "@effect-tls/core/TlsEngine"
import * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as NodeTlsEngine from "@effect-tls/node/NodeTlsEngine"
import { Effect, Exit, Option } from "effect"
import { afterAll, beforeAll } from "vitest"
import { generatePki, type Pki } from "../src/pki.js"

let pki: Pki

const engines = () =>
  Effect.runPromise(Effect.gen(function*() {
    const client = yield* Effect.flatMap(
      TlsOptions.decodeUpgrade({ role: "client", servername: "localhost", ca: pki.root.cert }),
      (o) => NodeTlsEngine.makeClientFactory(o as TlsOptions.ResolvedClient)
    )
    const server = yield* Effect.flatMap(
      TlsOptions.decodeUpgrade({ role: "server", cert: pki.server.chain, key: pki.server.key }),
      (o) => NodeTlsEngine.makeServerFactory(o as TlsOptions.ResolvedServer)
    )
    return {
      client: yield* client.make({ remoteAddress: undefined }),
      server: yield* server.make({ remoteAddress: "test" })
    }
  }))

/** Move every pending byte from one engine to the other; how many moved. */
const move = (from: TlsEngine, to: TlsEngine) => {
  let n = 0
  for (const chunk of from.drain()) {
    n += chunk.length
    to.feed(chunk)
  }
  return n
}

/**
 * Run both handshakes to the end, moving flights by hand. (Writing a flight
 * out may take node:tls an event-loop turn: its stream wrapper completes
 * each write on the next turn. Only reading is claimed to be synchronous.)
 */
const handshake = async (client: TlsEngine, server: TlsEngine) => {
  for (let round = 0; round < 20; round++) {
    await new Promise((resolve) => setImmediate(resolve))
    const c = await Effect.runPromise(Effect.exit(client.handshake))
    const s = await Effect.runPromise(Effect.exit(server.handshake))
    if (Exit.isSuccess(c) && Exit.isSuccess(s)) return
    move(client, server)
    move(server, client)
  }
  throw new Error("the handshake did not complete")
}

/** The specification, for the runtime this file runs on. */
export const exactReadiness = (runtime: string) => describe(`NodeTlsEngine on ${runtime}: exact readiness`, () => {
  beforeAll(() => {
    pki = generatePki()
  })
  afterAll(() => pki?.cleanup())

  it("a whole record fed gives its plaintext in the same synchronous step", async () => {
    const { client, server } = await engines()
    await handshake(client, server)
    // Session tickets and other post-handshake records first.
    move(server, client)
    Effect.runSync(Effect.exit(client.read))
    for (const text of ["hello", "a second record", "x".repeat(40_000)]) {
      expect(Effect.runSync(client.write(new TextEncoder().encode(text)))).toBe(text.length)
      // The writing side may take a turn to hand out its ciphertext.
      await new Promise((resolve) => setImmediate(resolve))
      expect(move(client, server)).toBeGreaterThan(text.length)
      // Every record of it is plaintext now: reads in this same step take it all.
      let got = ""
      while (got.length < text.length) {
        got += new TextDecoder().decode(Option.getOrThrow(Effect.runSync(server.read)))
      }
      expect(got).toBe(text)
    }
    Effect.runSync(Effect.all([client.destroy, server.destroy]))
  })

  it("with nothing more to decrypt, read answers TlsWantRead at once", async () => {
    const { client, server } = await engines()
    await handshake(client, server)
    move(server, client)
    Effect.runSync(Effect.exit(client.read))
    const exit = Effect.runSync(Effect.exit(server.read))
    expect(exit).toEqual(Exit.fail(expect.objectContaining({ _tag: "TlsWantRead", operation: "read" })))
    // Half a record: still nothing to say, at once.
    Effect.runSync(client.write(new TextEncoder().encode("split in two")))
    // Small writes are handed to node:tls together, a microtask later.
    await new Promise((resolve) => setImmediate(resolve))
    const record = Buffer.concat(client.drain().map((c) => Buffer.from(c)))
    server.feed(record.subarray(0, 10))
    expect(Effect.runSync(Effect.exit(server.read))).toEqual(
      Exit.fail(expect.objectContaining({ _tag: "TlsWantRead", operation: "read" }))
    )
    server.feed(record.subarray(10))
    expect(Option.map(Effect.runSync(server.read), (b) => new TextDecoder().decode(b))).toEqual(
      Option.some("split in two")
    )
    Effect.runSync(Effect.all([client.destroy, server.destroy]))
  })
})
