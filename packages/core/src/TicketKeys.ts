/**
 * The keys a server encrypts and decrypts its session tickets with: the
 * current key encrypts new tickets, and a bounded number of others (the
 * previous ones) still decrypt. Servers that share the keys resume each
 * other's sessions: several listeners in one process, or several processes
 * behind one port (`reusePort`) or one load balancer.
 *
 * A server takes its keys from the `ticketKeys` option (fixed key bytes,
 * or a `TicketKeysService`), else from a `TicketKeys` service in its
 * context, else from the runtime (node:tls: random keys per native
 * context, which no other process shares).
 *
 * A key is 48 bytes in OpenSSL's and node:tls's layout: a 16-byte key
 * name, a 16-byte HMAC secret, a 16-byte AES key. Tickets carry the key
 * name in clear; core reads it from the ClientHello and runs the handshake
 * with a native context that holds that key (one per key, kept), so keys
 * other than the current one still decrypt although node:tls takes one
 * key per context. A ticket whose key is not kept is a full handshake,
 * without an error. Key material is a secret: it stays in `Redacted`, is
 * never logged, and a shared secret should be kept like a private key.
 *
 * - `fromKeys`: fixed keys.
 * - `makeRotating`: a new random key every period, the previous `keep`
 *   still decrypting; one process only (the keys never leave it).
 * - `fromSecret`: keys derived from a shared secret and the period number
 *   since the Unix epoch (HKDF-SHA256), so processes that share only the
 *   secret and a clock issue and accept each other's tickets, with no
 *   coordination.
 *
 * Time comes from Effect's `Clock`. Randomness and HKDF come from the
 * runtime's WebCrypto (`globalThis.crypto`).
 *
 * @since 0.3.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/ticketKeys.js"
import type { TlsConfigError } from "./TlsError.js"

/**
 * One ticket key.
 *
 * @since 0.3.0
 * @category models
 */
export interface TicketKey {
  /** The key name (its first 16 bytes) in lower-case hex: every ticket made with the key starts with it, in clear. */
  readonly name: string
  /** The 48 bytes: key name, HMAC secret, AES key. */
  readonly material: Redacted.Redacted<Uint8Array>
}

/**
 * The keys in force at one moment.
 *
 * @since 0.3.0
 * @category models
 */
export interface TicketKeySet {
  /** Encrypts new tickets. */
  readonly current: TicketKey
  /** Still decrypt tickets (and encrypt none): the previous keys, and for `fromSecret` the next one. */
  readonly accepted: ReadonlyArray<TicketKey>
}

/**
 * A source of ticket keys. `keys` is asked once per handshake that runs
 * with these keys, and should answer at once (from memory).
 *
 * @since 0.3.0
 * @category models
 */
export interface TicketKeysService {
  readonly keys: Effect.Effect<TicketKeySet>
}

/**
 * The ticket keys of the servers in its scope (the `ticketKeys` option
 * takes precedence).
 *
 * @since 0.3.0
 * @category tags
 */
export class TicketKeys extends Context.Tag("@effect-tls/core/TicketKeys")<TicketKeys, TicketKeysService>() {}

/**
 * Fixed keys: `current` encrypts, `previous` still decrypt. Each is 48
 * bytes, else `TlsConfigError`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromKeys: (
  current: Redacted.Redacted<Uint8Array>,
  previous?: ReadonlyArray<Redacted.Redacted<Uint8Array>>
) => Effect.Effect<TicketKeysService, TlsConfigError> = internal.fromKeys

/**
 * Options of the changing key sources.
 *
 * @since 0.3.0
 * @category models
 */
export interface RotationOptions {
  /** How long a key is current. */
  readonly period: Duration.DurationInput
  /** How many previous keys still decrypt (0 to 64). Default 1. */
  readonly keep?: number | undefined
}

/**
 * A new random key every `period` (counted from when it is made, by the
 * `Clock`), the previous `keep` still decrypting. Its keys exist in this
 * process only: share the service to share them between listeners.
 * A ticket lives at most `period` times `keep + 1`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const makeRotating: (options: RotationOptions) => Effect.Effect<TicketKeysService, TlsConfigError> =
  internal.makeRotating

/**
 * Keys derived from `secret` (at least 16 bytes; text is taken as UTF-8):
 * the key of period `n` (the `Clock`'s time since the Unix epoch divided
 * by `period`) is HKDF-SHA256 of the secret for `n`. Period `n`'s key
 * encrypts; periods `n - keep` to `n - 1`, and `n + 1` (for a process
 * whose clock runs ahead), decrypt. Processes that share the secret and
 * roughly agree on the time resume each other's sessions. Fails with
 * `TlsConfigError` for a short secret or a runtime without WebCrypto HKDF.
 *
 * @since 0.3.0
 * @category constructors
 */
export const fromSecret: (
  secret: Redacted.Redacted<Uint8Array | string>,
  options: RotationOptions
) => Effect.Effect<TicketKeysService, TlsConfigError> = internal.fromSecret

/**
 * @since 0.3.0
 * @category layers
 */
export const layerKeys = (
  current: Redacted.Redacted<Uint8Array>,
  previous?: ReadonlyArray<Redacted.Redacted<Uint8Array>>
): Layer.Layer<TicketKeys, TlsConfigError> => Layer.effect(TicketKeys, fromKeys(current, previous))

/**
 * @since 0.3.0
 * @category layers
 */
export const layerRotating = (options: RotationOptions): Layer.Layer<TicketKeys, TlsConfigError> =>
  Layer.effect(TicketKeys, makeRotating(options))

/**
 * @since 0.3.0
 * @category layers
 */
export const layerSecret = (
  secret: Redacted.Redacted<Uint8Array | string>,
  options: RotationOptions
): Layer.Layer<TicketKeys, TlsConfigError> => Layer.effect(TicketKeys, fromSecret(secret, options))
