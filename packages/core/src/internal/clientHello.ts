/**
 * ClientHello inspection.
 *
 * Theory of operation: the client's first flight is a run of TLS records
 * (RFC 8446 section 5.1) whose payloads, put end to end, hold one
 * handshake message: the ClientHello (section 4.1.2; RFC 5246 section
 * 7.4.1.2 for its TLS 1.2 form, where the extensions block may be absent).
 * `FirstFlight` takes bytes as they arrive, in chunks of any size: it
 * reads record headers, checks them, and appends each record's payload to
 * the handshake message; once the message's 4-byte header is in, it knows
 * how long the message is, and once the whole message is in, it parses it.
 * Every byte is looked at once, so reading a hello that arrives one byte
 * per read, in one-byte records, stays linear.
 *
 * The parser is total: every length is checked against the bytes that
 * enclose it (a `Reader` over a bounded window), and malformed input is an
 * `Invalid` result, never a throw or a read past the end.
 *
 * What is refused, and how (the alert is what the server sends back):
 * - the first bytes are an HTTP request: `TlsProtocolError`
 *   `ERR_SSL_HTTP_REQUEST` (no alert: the client does not speak TLS);
 * - an SSL 2.0-format hello: `TlsProtocolError` `ERR_SSL_SSLV2_CLIENT_HELLO`;
 * - a record that is not a handshake record, or a handshake message that is
 *   not a ClientHello, or an empty record: `unexpected_message`;
 * - a record version whose major byte is not 3:
 *   `TlsProtocolError` `ERR_SSL_WRONG_VERSION_NUMBER`;
 * - a record longer than 2^14 bytes: `record_overflow`;
 * - a first flight longer than `MAX_BYTES`: `decode_error`;
 * - any length that does not fit, trailing bytes, empty lists where the RFC
 *   requires entries: `decode_error`;
 * - the same extension twice, or two host names in server_name:
 *   `illegal_parameter`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ClientHello, Extension, Inspection } from "../ClientHello.js"
import { TlsAlertError, type TlsError, TlsProtocolError, TlsUnexpectedEof } from "../TlsError.js"
import type { Transport } from "../Transport.js"

/** The largest first flight accepted, in bytes (records and headers). */
export const MAX_BYTES = 64 * 1024

const RECORD_HEADER = 5
const MAX_RECORD = 1 << 14
const CONTENT_HANDSHAKE = 22
const HANDSHAKE_CLIENT_HELLO = 1

const EXT_SERVER_NAME = 0
const EXT_SUPPORTED_GROUPS = 10
const EXT_SIGNATURE_ALGORITHMS = 13
const EXT_ALPN = 16
const EXT_SUPPORTED_VERSIONS = 43
const EXT_KEY_SHARE = 51

const HTTP_METHODS = ["GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "]

const NEED_MORE: Inspection = { _tag: "NeedMore" }

/** A malformed ClientHello: the alert to send, and why. */
class Malformed {
  constructor(readonly alert: string, readonly reason: string) {}
}

const invalid = (error: TlsAlertError | TlsProtocolError): Inspection => ({ _tag: "Invalid", error })

const alert = (name: string, reason: string): Inspection =>
  invalid(new TlsAlertError({ alert: name, direction: "sent", cause: reason }))

/**
 * Reads big-endian integers and length-prefixed vectors from a window of
 * bytes; anything past the window's end is `decode_error`.
 */
class Reader {
  constructor(private readonly bytes: Uint8Array, private offset: number, private readonly end: number) {}

  get remaining(): number {
    return this.end - this.offset
  }

  private take(n: number, what: string): number {
    if (n > this.end - this.offset) throw new Malformed("decode_error", `${what} is cut short`)
    const at = this.offset
    this.offset += n
    return at
  }

  u8(what: string): number {
    return this.bytes[this.take(1, what)]!
  }

  u16(what: string): number {
    const at = this.take(2, what)
    return (this.bytes[at]! << 8) | this.bytes[at + 1]!
  }

  fixed(n: number, what: string): Uint8Array {
    const at = this.take(n, what)
    return this.bytes.subarray(at, at + n)
  }

  /** A vector with a `width`-byte length prefix, as a reader over its body. */
  vector(width: 1 | 2, what: string): Reader {
    const length = width === 1 ? this.u8(what) : this.u16(what)
    const at = this.take(length, what)
    return new Reader(this.bytes, at, at + length)
  }

  rest(): Uint8Array {
    return this.fixed(this.remaining, "rest")
  }

  expectEnd(what: string): void {
    if (this.remaining !== 0) throw new Malformed("decode_error", `${what} has ${this.remaining} trailing bytes`)
  }
}

const u16List = (reader: Reader, what: string, allowEmpty = false): Array<number> => {
  if (reader.remaining % 2 !== 0) throw new Malformed("decode_error", `${what} has an odd length`)
  if (!allowEmpty && reader.remaining === 0) throw new Malformed("decode_error", `${what} is empty`)
  const out: Array<number> = []
  while (reader.remaining > 0) out.push(reader.u16(what))
  return out
}

const latin1 = (bytes: Uint8Array): string => {
  let out = ""
  for (const b of bytes) out += String.fromCharCode(b)
  return out
}

const parseServerName = (data: Reader): string => {
  const list = data.vector(2, "server_name list")
  data.expectEnd("server_name")
  if (list.remaining === 0) throw new Malformed("decode_error", "server_name list is empty")
  let hostName: string | undefined
  while (list.remaining > 0) {
    const type = list.u8("server_name type")
    const name = list.vector(2, "server_name entry").rest()
    if (type !== 0) continue
    if (hostName !== undefined) throw new Malformed("illegal_parameter", "server_name carries two host names")
    if (name.length === 0) throw new Malformed("decode_error", "server_name host_name is empty")
    if (name.includes(0)) throw new Malformed("illegal_parameter", "server_name host_name contains a NUL byte")
    hostName = latin1(name)
  }
  if (hostName === undefined) throw new Malformed("decode_error", "server_name has no host_name")
  return hostName
}

const parseAlpn = (data: Reader): Array<string> => {
  const list = data.vector(2, "ALPN protocol list")
  data.expectEnd("ALPN")
  if (list.remaining === 0) throw new Malformed("decode_error", "ALPN protocol list is empty")
  const out: Array<string> = []
  while (list.remaining > 0) {
    const name = list.vector(1, "ALPN protocol name").rest()
    if (name.length === 0) throw new Malformed("decode_error", "an ALPN protocol name is empty")
    out.push(latin1(name))
  }
  return out
}

const parseKeyShare = (data: Reader): Array<number> => {
  const list = data.vector(2, "key_share list")
  data.expectEnd("key_share")
  const groups: Array<number> = []
  while (list.remaining > 0) {
    groups.push(list.u16("key_share group"))
    const key = list.vector(2, "key_share key_exchange")
    if (key.remaining === 0) throw new Malformed("decode_error", "a key_share entry has an empty key")
  }
  return groups
}

/** Parse a complete ClientHello body (after the 4-byte handshake header). */
const parseBody = (message: Uint8Array): ClientHello => {
  const r = new Reader(message, 0, message.length)
  const legacyVersion = r.u16("legacy_version")
  const random = r.fixed(32, "random").slice()
  const sessionId = r.vector(1, "legacy_session_id").rest().slice()
  if (sessionId.length > 32) throw new Malformed("decode_error", "legacy_session_id is longer than 32 bytes")
  const cipherSuites = u16List(r.vector(2, "cipher_suites"), "cipher_suites")
  const compression = r.vector(1, "legacy_compression_methods")
  if (compression.remaining === 0) throw new Malformed("decode_error", "legacy_compression_methods is empty")
  const compressionMethods = Array.from(compression.rest())

  const extensions: Array<Extension> = []
  let serverName = Option.none<string>()
  let alpnProtocols: Array<string> = []
  let supportedVersions: Array<number> = []
  let supportedGroups: Array<number> = []
  let keyShareGroups: Array<number> = []
  let signatureAlgorithms: Array<number> = []

  // The TLS 1.2 form may end here, without an extensions block.
  if (r.remaining > 0) {
    const block = r.vector(2, "extensions")
    r.expectEnd("ClientHello")
    const seen = new Set<number>()
    while (block.remaining > 0) {
      const type = block.u16("extension type")
      const data = block.vector(2, `extension ${type}`)
      if (seen.has(type)) throw new Malformed("illegal_parameter", `extension ${type} appears twice`)
      seen.add(type)
      const bytes = data.rest()
      extensions.push({ type, data: bytes.slice() })
      const body = new Reader(bytes, 0, bytes.length)
      switch (type) {
        case EXT_SERVER_NAME:
          // An empty server_name extension is legal only in a ServerHello.
          serverName = Option.some(parseServerName(body))
          break
        case EXT_ALPN:
          alpnProtocols = parseAlpn(body)
          break
        case EXT_SUPPORTED_VERSIONS: {
          const list = body.vector(1, "supported_versions")
          body.expectEnd("supported_versions")
          supportedVersions = u16List(list, "supported_versions")
          break
        }
        case EXT_SUPPORTED_GROUPS: {
          const list = body.vector(2, "supported_groups")
          body.expectEnd("supported_groups")
          supportedGroups = u16List(list, "supported_groups")
          break
        }
        case EXT_SIGNATURE_ALGORITHMS: {
          const list = body.vector(2, "signature_algorithms")
          body.expectEnd("signature_algorithms")
          signatureAlgorithms = u16List(list, "signature_algorithms")
          break
        }
        case EXT_KEY_SHARE:
          keyShareGroups = parseKeyShare(body)
          break
      }
    }
  }

  return {
    legacyVersion,
    random,
    sessionId,
    cipherSuites,
    compressionMethods,
    extensions,
    serverName,
    alpnProtocols,
    supportedVersions,
    supportedGroups,
    keyShareGroups,
    signatureAlgorithms
  }
}

/** What the first bytes are, when they are not a TLS handshake record. */
const notTls = (received: Uint8Array): Inspection => {
  const first = received[0]!
  if ((first & 0x80) !== 0) {
    return invalid(
      new TlsProtocolError({
        code: "ERR_SSL_SSLV2_CLIENT_HELLO",
        reason: "the client sent an SSL 2.0-format hello, which TLS 1.2 and 1.3 servers do not accept"
      })
    )
  }
  const text = latin1(received.subarray(0, 8))
  if (HTTP_METHODS.some((m) => text.startsWith(m))) {
    return invalid(
      new TlsProtocolError({ code: "ERR_SSL_HTTP_REQUEST", reason: "the client sent an HTTP request to a TLS port" })
    )
  }
  // Still a possible method: wait for the bytes that decide.
  if (HTTP_METHODS.some((m) => m.startsWith(text) && text.length < m.length)) return NEED_MORE
  return alert("unexpected_message", `the first record has content type ${first}, not handshake (22)`)
}

/** A growable byte buffer. */
class Bytes {
  data = new Uint8Array(1024)
  length = 0

  append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.data.length) {
      let size = this.data.length * 2
      while (size < this.length + chunk.length) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.data.subarray(0, this.length))
      this.data = grown
    }
    this.data.set(chunk, this.length)
    this.length += chunk.length
  }

  view(): Uint8Array {
    return this.data.subarray(0, this.length)
  }
}

/**
 * The first flight as it arrives: `push` each chunk; the answer is final
 * once it is not `NeedMore`.
 */
class FirstFlight {
  /** Every byte received. */
  readonly received = new Bytes()
  /** The handshake message reassembled from record payloads. */
  private readonly message = new Bytes()
  /** Where the next record header starts in `received`. */
  private next = 0
  private outcome: Inspection = NEED_MORE

  push(chunk: Uint8Array): Inspection {
    if (this.outcome._tag !== "NeedMore") return this.outcome
    this.received.append(chunk)
    this.outcome = this.advance()
    return this.outcome
  }

  private advance(): Inspection {
    const bytes = this.received.data
    const received = this.received.length
    if (received > 0 && bytes[0] !== CONTENT_HANDSHAKE) return notTls(this.received.view())
    while (this.next + RECORD_HEADER <= received) {
      const at = this.next
      const type = bytes[at]!
      const major = bytes[at + 1]!
      const length = (bytes[at + 3]! << 8) | bytes[at + 4]!
      if (type !== CONTENT_HANDSHAKE) {
        return alert("unexpected_message", `a record of content type ${type} arrived before the ClientHello was complete`)
      }
      if (major !== 3) {
        return invalid(
          new TlsProtocolError({
            code: "ERR_SSL_WRONG_VERSION_NUMBER",
            reason: `record version ${major}.${bytes[at + 2]!} is not TLS`
          })
        )
      }
      if (length === 0) return alert("unexpected_message", "an empty handshake record")
      if (length > MAX_RECORD) return alert("record_overflow", `a record of ${length} bytes`)
      if (at + RECORD_HEADER + length > MAX_BYTES) {
        return alert("decode_error", `the first flight is longer than ${MAX_BYTES} bytes`)
      }
      if (at + RECORD_HEADER + length > received) return NEED_MORE
      this.message.append(bytes.subarray(at + RECORD_HEADER, at + RECORD_HEADER + length))
      this.next = at + RECORD_HEADER + length
      const done = this.complete()
      if (done !== undefined) return done
    }
    if (received > MAX_BYTES) return alert("decode_error", `the first flight is longer than ${MAX_BYTES} bytes`)
    return NEED_MORE
  }

  /** The result once the whole message is in, else undefined. */
  private complete(): Inspection | undefined {
    const m = this.message.data
    if (this.message.length < 4) return undefined
    if (m[0] !== HANDSHAKE_CLIENT_HELLO) {
      return alert("unexpected_message", `the first handshake message has type ${m[0]}, not client_hello (1)`)
    }
    const length = (m[1]! << 16) | (m[2]! << 8) | m[3]!
    if (length + 4 + RECORD_HEADER > MAX_BYTES) {
      return alert("decode_error", `a ClientHello of ${length} bytes is longer than ${MAX_BYTES}`)
    }
    if (this.message.length < 4 + length) return undefined
    try {
      const hello = parseBody(m.subarray(4, 4 + length))
      return { _tag: "Complete", hello, length: this.next }
    } catch (e) {
      // Only `Malformed` is expected; anything else is a bug and is rethrown.
      if (e instanceof Malformed) return alert(e.alert, e.reason)
      throw e
    }
  }
}

/** @internal */
export const inspect = (bytes: Uint8Array): Inspection => new FirstFlight().push(bytes)

/** @internal */
export const read = (
  transport: Transport
): Effect.Effect<{ readonly hello: ClientHello; readonly bytes: Uint8Array }, TlsError> =>
  Effect.suspend(() => {
    const flight = new FirstFlight()
    const loop: Effect.Effect<{ readonly hello: ClientHello; readonly bytes: Uint8Array }, TlsError> = Effect.flatMap(
      transport.read,
      (chunk) => {
        if (Option.isNone(chunk)) return Effect.fail(new TlsUnexpectedEof({ phase: "handshake" }))
        const result = flight.push(chunk.value)
        switch (result._tag) {
          case "NeedMore":
            return loop
          case "Invalid":
            return Effect.fail(result.error)
          case "Complete":
            return Effect.succeed({ hello: result.hello, bytes: flight.received.view().slice() })
        }
      }
    )
    return loop
  })

/** RFC 8446 section 6 (and RFC 7301, RFC 6066) alert codes. */
const ALERT_CODES: Readonly<Record<string, number>> = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  missing_extension: 109,
  unsupported_extension: 110,
  unrecognized_name: 112,
  bad_certificate_status_response: 113,
  unknown_psk_identity: 115,
  certificate_required: 116,
  no_application_protocol: 120
}

/** @internal */
export const alertRecord = (alert: string): Uint8Array => {
  const code = Object.hasOwn(ALERT_CODES, alert) ? ALERT_CODES[alert]! : ALERT_CODES.internal_error!
  // content type alert (21), legacy record version TLS 1.2, length 2, level fatal (2), description
  return new Uint8Array([21, 3, 3, 0, 2, 2, code])
}
