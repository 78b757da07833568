/**
 * The ticket key sources on their own, on the TestClock: when rotating
 * keys change and how many previous ones are kept, that keys derived from
 * one secret agree between instances (and are HKDF-SHA256 as documented),
 * and the checks on their inputs.
 */
import { describe, expect, it } from "@effect/vitest"
import * as TicketKeys from "@effect-tls/core/TicketKeys"
import { Duration, Effect, Redacted, TestClock } from "effect"
import { hkdfSync, randomBytes } from "node:crypto"

const HOUR = Duration.toMillis("1 hour")
const names = (set: TicketKeys.TicketKeySet) => ({ current: set.current.name, accepted: set.accepted.map((k) => k.name) })
const bytes = (k: TicketKeys.TicketKey) => Buffer.from(Redacted.value(k.material)).toString("hex")

describe("TicketKeys.makeRotating", () => {
  it.effect("a new key every period; the previous `keep` still decrypt, older ones are dropped", () =>
    Effect.gen(function*() {
      const keys = yield* TicketKeys.makeRotating({ period: "1 hour", keep: 2 })
      const k0 = yield* keys.keys
      expect(k0.accepted).toEqual([])
      yield* TestClock.adjust("59 minutes")
      expect(names(yield* keys.keys)).toEqual(names(k0))
      yield* TestClock.adjust("1 minute")
      const k1 = yield* keys.keys
      expect(k1.current.name).not.toBe(k0.current.name)
      expect(names(k1).accepted).toEqual([k0.current.name])
      yield* TestClock.adjust("1 hour")
      const k2 = yield* keys.keys
      expect(names(k2).accepted).toEqual([k1.current.name, k0.current.name])
      yield* TestClock.adjust("1 hour")
      const k3 = yield* keys.keys
      expect(names(k3).accepted).toEqual([k2.current.name, k1.current.name])
      // Three idle periods: every kept key is out of the window.
      yield* TestClock.adjust("3 hours")
      expect((yield* keys.keys).accepted).toEqual([])
    }))

  it.effect("a key is 48 random bytes whose first 16 are its name", () =>
    Effect.gen(function*() {
      const one = (yield* (yield* TicketKeys.makeRotating({ period: "1 hour" })).keys).current
      const two = (yield* (yield* TicketKeys.makeRotating({ period: "1 hour" })).keys).current
      expect(Redacted.value(one.material).length).toBe(48)
      expect(bytes(one).slice(0, 32)).toBe(one.name)
      expect(one.name).not.toBe(two.name)
    }))

  it.effect("a bad period or keep is TlsConfigError", () =>
    Effect.gen(function*() {
      expect((yield* Effect.flip(TicketKeys.makeRotating({ period: 0 })))._tag).toBe("TlsConfigError")
      expect((yield* Effect.flip(TicketKeys.makeRotating({ period: "1 hour", keep: -1 })))._tag).toBe("TlsConfigError")
      expect((yield* Effect.flip(TicketKeys.makeRotating({ period: "1 hour", keep: 1.5 })))._tag).toBe("TlsConfigError")
    }))
})

describe("TicketKeys.fromSecret", () => {
  const secret = Redacted.make(new Uint8Array(randomBytes(32)))

  it.effect("two instances of one secret agree on every key; another secret gives others", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const one = yield* (yield* TicketKeys.fromSecret(secret, { period: "1 hour" })).keys
      const two = yield* (yield* TicketKeys.fromSecret(secret, { period: "1 hour" })).keys
      expect(names(one)).toEqual(names(two))
      expect(bytes(one.current)).toBe(bytes(two.current))
      const other = yield* (yield* TicketKeys.fromSecret(Redacted.make("another secret, 16+ bytes"), { period: "1 hour" })).keys
      expect(other.current.name).not.toBe(one.current.name)
    }))

  it.effect("period n's key encrypts; n + 1 and n - 1 .. n - keep decrypt; the next period moves the window", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(1_700_000_000_000)
      const keys = yield* TicketKeys.fromSecret(secret, { period: "1 hour", keep: 2 })
      const now = yield* keys.keys
      expect(now.accepted.length).toBe(3)
      const [next, previous] = now.accepted
      yield* TestClock.adjust("1 hour")
      const later = yield* keys.keys
      expect(later.current.name).toBe(next!.name)
      expect(later.accepted.map((k) => k.name)).toEqual(
        [expect.any(String), now.current.name, previous!.name]
      )
    }))

  it.effect("the key of period n is HKDF-SHA256(secret, salt \"effect-tls ticket keys v1\", info \"ticket key for \" || n as 8 bytes), 48 bytes", () =>
    Effect.gen(function*() {
      const at = 1_700_000_000_000
      yield* TestClock.setTime(at)
      const current = (yield* (yield* TicketKeys.fromSecret(secret, { period: "1 hour" })).keys).current
      const n = Math.floor(at / HOUR)
      const info = Buffer.concat([Buffer.from("ticket key for "), Buffer.alloc(8)])
      info.writeBigUInt64BE(BigInt(n), 15)
      const expected = Buffer.from(hkdfSync("sha256", Redacted.value(secret), "effect-tls ticket keys v1", info, 48))
      expect(bytes(current)).toBe(expected.toString("hex"))
    }))

  it.effect("a secret shorter than 16 bytes is TlsConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(TicketKeys.fromSecret(Redacted.make("short"), { period: "1 hour" }))
      expect(error._tag).toBe("TlsConfigError")
    }))
})

describe("TicketKeys.fromKeys", () => {
  it.effect("current encrypts, previous decrypt; every key must be 48 bytes", () =>
    Effect.gen(function*() {
      const a = new Uint8Array(randomBytes(48))
      const b = new Uint8Array(randomBytes(48))
      const set = yield* (yield* TicketKeys.fromKeys(Redacted.make(a), [Redacted.make(b)])).keys
      expect(set.current.name).toBe(Buffer.from(a.subarray(0, 16)).toString("hex"))
      expect(set.accepted.map((k) => k.name)).toEqual([Buffer.from(b.subarray(0, 16)).toString("hex")])
      const error = yield* Effect.flip(TicketKeys.fromKeys(Redacted.make(a), [Redacted.make(new Uint8Array(16))]))
      expect(error).toMatchObject({ _tag: "TlsConfigError", option: "ticketKeys.previous[0]" })
    }))
})
