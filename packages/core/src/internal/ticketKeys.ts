/**
 * Server ticket keys: the sources (fixed, rotating in memory, derived from
 * a shared secret and the clock), and what a server reads from a
 * ClientHello to pick the key an offered ticket was made with.
 *
 * A key is 48 bytes in OpenSSL's (and node:tls's) layout: a 16-byte key
 * name, a 16-byte HMAC secret and a 16-byte AES key. OpenSSL writes the key
 * name in clear at the start of every ticket it issues (TLS 1.2
 * `session_ticket`, and the TLS 1.3 `pre_shared_key` identity), which is
 * how a server finds the key a ticket needs before any TLS runs.
 *
 * Time comes from Effect's `Clock`; randomness and HKDF-SHA256 from the
 * runtime's WebCrypto (`globalThis.crypto`: Node.js 20 and later, Bun),
 * typed here by the little this module uses (core has no DOM or Node
 * typings).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as ClientHello from "../ClientHello.js"
import type { TicketKey, TicketKeySet, TicketKeysService } from "../TicketKeys.js"
import { TlsConfigError } from "../TlsError.js"
import { utf8Encode } from "./bytes.js"

/** @internal */
export const KEY_LENGTH = 48
const NAME_LENGTH = 16
const EXT_SESSION_TICKET = 35
const EXT_PRE_SHARED_KEY = 41

/** The part of WebCrypto used here. */
interface WebCrypto {
  getRandomValues<T extends Uint8Array>(array: T): T
  readonly subtle: {
    importKey(format: "raw", key: Uint8Array, algorithm: "HKDF", extractable: false, usages: Array<"deriveBits">): Promise<unknown>
    deriveBits(
      algorithm: { name: "HKDF"; hash: "SHA-256"; salt: Uint8Array; info: Uint8Array },
      key: unknown,
      length: number
    ): Promise<ArrayBuffer>
  }
}

const webCrypto = (): WebCrypto | undefined => {
  const c = (globalThis as unknown as { readonly crypto?: Partial<WebCrypto> }).crypto
  return c !== undefined && typeof c.getRandomValues === "function" && typeof c.subtle?.deriveBits === "function"
    ? c as WebCrypto
    : undefined
}

const noCrypto = (option: string) =>
  new TlsConfigError({ option, reason: "this runtime has no WebCrypto (globalThis.crypto)" })

const hex = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += bytes[i]!.toString(16).padStart(2, "0")
  return out
}

/** A key from its 48 bytes (copied). */
const keyOf = (material: Uint8Array): TicketKey => {
  const copy = Uint8Array.from(material)
  return { name: hex(copy.subarray(0, NAME_LENGTH)), material: Redacted.make(copy) }
}

/** Why `input` is not a key's bytes, or undefined when it is. @internal */
export const keyProblem = (input: unknown): string | undefined => {
  if (!Redacted.isRedacted(input)) return "expected Redacted bytes (48: key name, HMAC secret, AES key)"
  const bytes = Redacted.value(input as Redacted.Redacted<unknown>)
  if (!(bytes instanceof Uint8Array)) return "expected Redacted bytes (a Uint8Array)"
  if (bytes.length !== KEY_LENGTH) return `a ticket key is ${KEY_LENGTH} bytes, not ${bytes.length}`
  return undefined
}

/** A service of one fixed key, whose bytes `keyProblem` accepted. @internal */
export const fixed = (input: Redacted.Redacted<Uint8Array>): TicketKeysService => {
  const set: TicketKeySet = { current: keyOf(Redacted.value(input)), accepted: [] }
  return { keys: Effect.succeed(set) }
}

const decodeKey = (input: unknown, option: string): Effect.Effect<TicketKey, TlsConfigError> =>
  Effect.suspend(() => {
    const reason = keyProblem(input)
    return reason === undefined
      ? Effect.succeed(keyOf(Redacted.value(input as Redacted.Redacted<Uint8Array>)))
      : Effect.fail(new TlsConfigError({ option, reason }))
  })

/** @internal */
export const fromKeys = (
  current: Redacted.Redacted<Uint8Array>,
  previous: ReadonlyArray<Redacted.Redacted<Uint8Array>> = []
): Effect.Effect<TicketKeysService, TlsConfigError> =>
  Effect.gen(function*() {
    const now = yield* decodeKey(current, "ticketKeys")
    const older = yield* Effect.forEach(previous, (k, i) => decodeKey(k, `ticketKeys.previous[${i}]`))
    const set: TicketKeySet = { current: now, accepted: older }
    return { keys: Effect.succeed(set) }
  })

/** A period and how many previous keys are kept, checked. */
const checkSchedule = (
  options: { readonly period: Duration.DurationInput; readonly keep?: number | undefined },
  option: string
): Effect.Effect<{ readonly millis: number; readonly keep: number }, TlsConfigError> =>
  Effect.suspend(() => {
    const period = Duration.decodeUnknown(options.period)
    const millis = Option.isSome(period) ? Duration.toMillis(period.value) : NaN
    if (!Number.isFinite(millis) || millis < 1) {
      return Effect.fail(new TlsConfigError({ option: `${option}.period`, reason: "expected a finite duration of at least 1 millisecond" }))
    }
    const keep = options.keep ?? 1
    if (!Number.isInteger(keep) || keep < 0 || keep > 64) {
      return Effect.fail(new TlsConfigError({ option: `${option}.keep`, reason: "expected an integer from 0 to 64" }))
    }
    return Effect.succeed({ millis: Math.floor(millis), keep })
  })

/** @internal */
export const makeRotating = (
  options: { readonly period: Duration.DurationInput; readonly keep?: number | undefined }
): Effect.Effect<TicketKeysService, TlsConfigError> =>
  Effect.gen(function*() {
    const { keep, millis } = yield* checkSchedule(options, "rotating")
    const crypto = webCrypto()
    if (crypto === undefined) return yield* noCrypto("rotating")
    const start = yield* Clock.currentTimeMillis
    /** Generation number and key, newest first; at most keep + 1. */
    let kept: Array<{ readonly generation: number; readonly key: TicketKey }> = []
    let set: TicketKeySet | undefined
    const fresh = () => keyOf(crypto.getRandomValues(new Uint8Array(KEY_LENGTH)))
    const keys = Effect.map(Clock.currentTimeMillis, (now) => {
      const generation = Math.max(0, Math.floor((now - start) / millis))
      if (set !== undefined && kept[0]!.generation === generation) return set
      // Keys of periods nobody asked in never issued a ticket: they are not made.
      kept = [{ generation, key: fresh() }, ...kept.filter((k) => k.generation < generation && k.generation >= generation - keep)]
      set = { current: kept[0]!.key, accepted: kept.slice(1).map((k) => k.key) }
      return set
    })
    return { keys }
  })

const SALT = utf8Encode("effect-tls ticket keys v1")

/** HKDF-SHA256 info for period `n`: a label and `n` as 8 bytes, big-endian. */
const infoFor = (n: number): Uint8Array => {
  const info = new Uint8Array(15 + 8)
  info.set(utf8Encode("ticket key for "))
  let rest = n
  for (let i = info.length - 1; i >= 15; i--) {
    info[i] = rest % 256
    rest = Math.floor(rest / 256)
  }
  return info
}

/** @internal */
export const fromSecret = (
  secret: Redacted.Redacted<Uint8Array | string>,
  options: { readonly period: Duration.DurationInput; readonly keep?: number | undefined }
): Effect.Effect<TicketKeysService, TlsConfigError> =>
  Effect.gen(function*() {
    const { keep, millis } = yield* checkSchedule(options, "fromSecret")
    const crypto = webCrypto()
    if (crypto === undefined) return yield* noCrypto("fromSecret")
    const raw = Redacted.isRedacted(secret) ? Redacted.value(secret) : undefined
    const bytes = typeof raw === "string" ? utf8Encode(raw) : raw
    if (!(bytes instanceof Uint8Array) || bytes.length < 16) {
      return yield* new TlsConfigError({ option: "fromSecret.secret", reason: "expected Redacted bytes or text of at least 16 bytes" })
    }
    const base = yield* Effect.tryPromise({
      try: () => crypto.subtle.importKey("raw", Uint8Array.from(bytes), "HKDF", false, ["deriveBits"]),
      catch: (cause) => new TlsConfigError({ option: "fromSecret.secret", reason: "WebCrypto refused the secret for HKDF", cause })
    })
    const derive = (n: number) =>
      Effect.map(
        Effect.promise(() =>
          crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: SALT, info: infoFor(n) }, base, KEY_LENGTH * 8)
        ),
        (bits) => keyOf(new Uint8Array(bits))
      )
    /** Derived keys by period number (kept: the window, plus the next period). */
    const derived = new Map<number, TicketKey>()
    let period = -1
    let set: TicketKeySet | undefined
    const keyAt = (n: number) =>
      Effect.suspend(() => {
        const hit = derived.get(n)
        return hit !== undefined ? Effect.succeed(hit) : Effect.tap(derive(n), (k) => Effect.sync(() => derived.set(n, k)))
      })
    const refresh = (n: number) =>
      Effect.gen(function*() {
        const current = yield* keyAt(n)
        // The next period's key decrypts too: a process whose clock is
        // ahead may already issue under it.
        const accepted = [yield* keyAt(n + 1)]
        for (let i = 1; i <= keep && n - i >= 0; i++) accepted.push(yield* keyAt(n - i))
        for (const m of derived.keys()) if (m > n + 1 || m < n - keep) derived.delete(m)
        if (n >= period) {
          period = n
          set = { current, accepted }
        }
        return { current, accepted } satisfies TicketKeySet
      })
    // The first derivation runs now: a runtime whose WebCrypto lacks HKDF fails here.
    yield* Effect.flatMap(Clock.currentTimeMillis, (now) => refresh(Math.floor(now / millis))).pipe(
      Effect.catchAllDefect((cause) =>
        new TlsConfigError({ option: "fromSecret", reason: "WebCrypto could not derive a key with HKDF-SHA256", cause })
      )
    )
    const keys = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const n = Math.floor(now / millis)
      return n === period && set !== undefined ? Effect.succeed(set) : refresh(n)
    })
    return { keys }
  })

/**
 * The key name an offered ticket starts with (lower-case hex), or
 * undefined: the first `pre_shared_key` identity when TLS 1.3 may be
 * spoken, else the `session_ticket` extension's ticket.
 * @internal
 */
export const offeredName = (hello: ClientHello.ClientHello, tls13: boolean): string | undefined => {
  let ticket: Uint8Array | undefined
  for (const extension of hello.extensions) {
    if (extension.type === EXT_PRE_SHARED_KEY && tls13) {
      // PreSharedKeyExtension: PskIdentity identities<7..2^16-1> (u16 length),
      // each an opaque identity<1..2^16-1> (u16 length) and a u32 age.
      const d = extension.data
      if (d.length < 4) continue
      const listLength = (d[0]! << 8) | d[1]!
      const idLength = (d[2]! << 8) | d[3]!
      if (listLength < 2 + idLength || d.length < 4 + idLength) continue
      return idLength >= NAME_LENGTH ? hex(d.subarray(4, 4 + NAME_LENGTH)) : undefined
    }
    if (extension.type === EXT_SESSION_TICKET) ticket = extension.data
  }
  return ticket !== undefined && ticket.length >= NAME_LENGTH ? hex(ticket.subarray(0, NAME_LENGTH)) : undefined
}

/**
 * The key a handshake's context should hold: the one named by the offered
 * ticket when it is kept, else the current one.
 * @internal
 */
export const pick = (set: TicketKeySet, name: string | undefined): TicketKey => {
  if (name === undefined || name === set.current.name) return set.current
  for (const k of set.accepted) if (k.name === name) return k
  return set.current
}

/** Whether `input` is a `TicketKeysService` (has a `keys` Effect). @internal */
export const isService = (input: unknown): input is TicketKeysService =>
  typeof input === "object" && input !== null && !Redacted.isRedacted(input) && Effect.isEffect((input as { keys?: unknown }).keys)
