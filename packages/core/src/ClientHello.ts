/**
 * ClientHello inspection: the client's first flight, parsed before any
 * engine exists.
 *
 * A server reads the first flight with `read`, learns the client's SNI
 * name, offered ALPN protocols, versions, cipher suites and key-share
 * groups, resolves its certificate and protocol from them (`SniResolver`,
 * `AlpnSelector`), and only then builds the engine and feeds it the same
 * bytes, unchanged. This works on every runtime, including those whose TLS
 * library has no (or only a synchronous) SNI callback.
 *
 * Covers the TLS 1.3 form (RFC 8446 section 4.1.2) and the TLS 1.2 form
 * (RFC 5246 section 7.4.1.2, extensions optional), in one record or
 * fragmented across several, arriving in any number of reads. Malformed
 * input is a typed error, never a throw or an out-of-bounds read.
 *
 * @since 0.2.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import * as internal from "./internal/clientHello.js"
import type { TlsAlertError, TlsError, TlsProtocolError } from "./TlsError.js"
import type { Transport } from "./Transport.js"

/**
 * One extension, as it appeared on the wire.
 *
 * @since 0.2.0
 * @category models
 */
export interface Extension {
  /** The extension type (IANA TLS ExtensionType value: 0 = server_name, 16 = ALPN, ...). */
  readonly type: number
  /** The extension_data bytes. */
  readonly data: Uint8Array
}

/**
 * A parsed ClientHello.
 *
 * @since 0.2.0
 * @category models
 */
export interface ClientHello {
  /** `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients). */
  readonly legacyVersion: number
  /** The 32 random bytes. */
  readonly random: Uint8Array
  readonly sessionId: Uint8Array
  /** Offered cipher suites (IANA values: 0x1301 = TLS_AES_128_GCM_SHA256, ...), in the client's order. */
  readonly cipherSuites: ReadonlyArray<number>
  readonly compressionMethods: ReadonlyArray<number>
  /** Every extension, in order. */
  readonly extensions: ReadonlyArray<Extension>
  /** The host_name from server_name (RFC 6066), when sent. */
  readonly serverName: Option.Option<string>
  /** Offered ALPN protocol names (RFC 7301), in the client's order; empty when not sent. */
  readonly alpnProtocols: ReadonlyArray<string>
  /** supported_versions (0x0304 = TLS 1.3, 0x0303 = TLS 1.2); empty when not sent (a TLS 1.2-only client). */
  readonly supportedVersions: ReadonlyArray<number>
  /** supported_groups (0x001d = x25519, 0x0017 = secp256r1, 0x11ec = X25519MLKEM768, ...). */
  readonly supportedGroups: ReadonlyArray<number>
  /** The groups of the key_share entries, in order; empty when not sent. */
  readonly keyShareGroups: ReadonlyArray<number>
  /** signature_algorithms; empty when not sent. */
  readonly signatureAlgorithms: ReadonlyArray<number>
}

/**
 * What `inspect` makes of the bytes received so far.
 *
 * @since 0.2.0
 * @category models
 */
export type Inspection =
  /** Not enough bytes yet: read more and inspect everything again. */
  | { readonly _tag: "NeedMore" }
  /** `length`: how many bytes (whole records) carried the ClientHello. */
  | { readonly _tag: "Complete"; readonly hello: ClientHello; readonly length: number }
  /** Not a valid first flight: answer with the alert (if any) and close. */
  | { readonly _tag: "Invalid"; readonly error: TlsAlertError | TlsProtocolError }

/**
 * The largest first flight `read` waits for (the ClientHello records), in
 * bytes. Real ClientHellos are 0.2-2 KB (post-quantum key shares included).
 *
 * @since 0.2.0
 * @category constants
 */
export const maxBytes: number = internal.MAX_BYTES

/**
 * Inspect the bytes received so far from a client (everything from the
 * first byte). Pure and total: never throws, never reads past the input.
 *
 * @since 0.2.0
 * @category parsing
 */
export const inspect: (bytes: Uint8Array) => Inspection = internal.inspect

/**
 * Read a transport until a whole ClientHello has arrived. Succeeds with the
 * parsed hello and every byte read (to be fed to the engine unchanged;
 * it may include bytes past the ClientHello). Fails with `TlsAlertError`
 * (`direction: "sent"`, the alert the server should send: `decode_error`,
 * `unexpected_message`, ...), `TlsProtocolError` (not TLS at all, such as
 * `ERR_SSL_HTTP_REQUEST`), `TlsUnexpectedEof`, or the transport's error.
 *
 * @since 0.2.0
 * @category parsing
 */
export const read: (
  transport: Transport
) => Effect.Effect<{ readonly hello: ClientHello; readonly bytes: Uint8Array }, TlsError> = internal.read

/**
 * The record that carries a fatal alert before any key exists (plaintext):
 * what a server writes when it aborts a handshake before its engine runs.
 * `alert` is the RFC 8446 name (`"unrecognized_name"`, `"internal_error"`,
 * `"no_application_protocol"`, `"decode_error"`, ...).
 *
 * @since 0.2.0
 * @category encoding
 */
export const alertRecord: (alert: string) => Uint8Array = internal.alertRecord
