/**
 * ClientHello inspection.
 *
 * Theory of operation: the client's first flight is a run of TLS records
 * (RFC 8446 section 5.1) whose payloads, put end to end, hold one
 * handshake message: the ClientHello (section 4.1.2; RFC 5246 section
 * 7.4.1.2 for its TLS 1.2 form, where the extensions block may be absent).
 *
 * `FirstFlight` takes bytes as they arrive, in chunks of any size. It
 * checks each record header once, appends each whole record's payload to
 * the handshake message, checks the message header as soon as it is in,
 * and parses the body once the whole message is in. Every byte is looked
 * at a bounded number of times, so a hello that arrives one byte per read,
 * in one-byte records, is still read in linear time.
 *
 * The parser is total without exceptions: a `Reader` is a window over the
 * message, and a read past the window's end records a `decode_error` in
 * the `Verdict` shared by all the readers of one parse, yields zeros from
 * then on, and makes every reader look empty, so the parse runs to its end
 * and the first problem found is the answer.
 *
 * What is refused, and how (an alert is the one the server should send):
 * - the first bytes are an HTTP request: `TlsProtocolError`
 *   `ERR_SSL_HTTP_REQUEST` (the client does not speak TLS: no alert);
 * - an SSL 2.0-format hello (high bit of the first byte set):
 *   `TlsProtocolError` `ERR_SSL_SSLV2_CLIENT_HELLO`;
 * - a record version whose major byte is not 3: `TlsProtocolError`
 *   `ERR_SSL_WRONG_VERSION_NUMBER` (not TLS);
 * - a record version 3.x outside 0x0301..0x0303 (SSL 3.0, or a future
 *   version no client puts in a record header): `protocol_version`;
 * - a record that is not a handshake record, a handshake message that is
 *   not a ClientHello, or an empty handshake record: `unexpected_message`;
 * - a record longer than 2^14 bytes: `record_overflow`;
 * - a first flight (or a declared ClientHello) longer than `MAX_BYTES`:
 *   `decode_error`;
 * - any length that does not fit its enclosing bytes, trailing bytes,
 *   an empty list where the RFC requires entries: `decode_error`;
 * - the same extension twice (RFC 8446 section 4.2), two host names in
 *   server_name (RFC 6066 section 3), a NUL in a host name:
 *   `illegal_parameter`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ClientHello, Extension, Inspection } from "../ClientHello.js"
import { TlsAlertError, type TlsError, TlsProtocolError, TlsUnexpectedEof } from "../TlsError.js"
import type { Transport } from "../Transport.js"
import { readThrough } from "./transport.js"

/** The largest first flight accepted, in bytes (records and their headers). */
export const MAX_BYTES = 64 * 1024

const RECORD_HEADER = 5
const HANDSHAKE_HEADER = 4
const MAX_RECORD = 1 << 14
const CONTENT_HANDSHAKE = 22
const HANDSHAKE_CLIENT_HELLO = 1

const EXT_SERVER_NAME = 0
const EXT_SUPPORTED_GROUPS = 10
const EXT_SIGNATURE_ALGORITHMS = 13
const EXT_ALPN = 16
const EXT_SUPPORTED_VERSIONS = 43
const EXT_KEY_SHARE = 51

const NAME_TYPE_HOST_NAME = 0

const HTTP_METHODS = ["GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "]
const LONGEST_METHOD = Math.max(...HTTP_METHODS.map((m) => m.length))

// -----------------------------------------------------------------------------
// Outcomes
// -----------------------------------------------------------------------------

const NEED_MORE: Inspection = { _tag: "NeedMore" }

const invalid = (error: TlsAlertError | TlsProtocolError): Inspection => ({ _tag: "Invalid", error })

const refuse = (alert: string, reason: string): Inspection =>
  invalid(new TlsAlertError({ alert, direction: "sent", cause: reason }))

const notTlsError = (code: string, reason: string): Inspection => invalid(new TlsProtocolError({ code, reason }))

const tooLong = (what: string): Inspection =>
  refuse("decode_error", `${what} is longer than the ${MAX_BYTES} bytes a first flight may take`)

// -----------------------------------------------------------------------------
// Reader
// -----------------------------------------------------------------------------

/** The first problem a parse found; shared by all the readers of one parse. */
class Verdict {
  alert: string | undefined = undefined
  reason = ""

  get failed(): boolean {
    return this.alert !== undefined
  }

  /** Record a problem (the first one wins); `undefined` lets callers `return verdict.fail(...)`. */
  fail(alert: string, reason: string): undefined {
    if (this.alert === undefined) {
      this.alert = alert
      this.reason = reason
    }
    return undefined
  }
}

/**
 * Big-endian integers and length-prefixed vectors from a window
 * `[offset, end)` of `bytes`. Never reads outside the window: a short
 * window fails the verdict with `decode_error` and reads as zeros.
 */
class Reader {
  constructor(
    readonly verdict: Verdict,
    private readonly bytes: Uint8Array,
    private offset: number,
    private readonly end: number
  ) {}

  /** Bytes left in the window; 0 once the parse has failed, so every loop stops. */
  get remaining(): number {
    return this.verdict.failed ? 0 : this.end - this.offset
  }

  /** Reserve `n` bytes and answer where they start, or -1 if they are not there. */
  private take(n: number, what: string): number {
    if (n > this.remaining) {
      this.verdict.fail("decode_error", `${what} is cut short`)
      return -1
    }
    const at = this.offset
    this.offset += n
    return at
  }

  u8(what: string): number {
    const at = this.take(1, what)
    return at < 0 ? 0 : this.bytes[at]!
  }

  u16(what: string): number {
    const at = this.take(2, what)
    return at < 0 ? 0 : (this.bytes[at]! << 8) | this.bytes[at + 1]!
  }

  bytesOf(n: number, what: string): Uint8Array {
    const at = this.take(n, what)
    return at < 0 ? new Uint8Array(0) : this.bytes.subarray(at, at + n)
  }

  /** A vector with a `width`-byte length prefix, as a reader over its body. */
  vector(width: 1 | 2, what: string): Reader {
    const length = width === 1 ? this.u8(what) : this.u16(what)
    const at = this.take(length, what)
    return at < 0 ? new Reader(this.verdict, this.bytes, 0, 0) : new Reader(this.verdict, this.bytes, at, at + length)
  }

  /** Everything left in the window. */
  rest(): Uint8Array {
    return this.bytesOf(this.remaining, "rest")
  }

  /** The window must be used up exactly. */
  done(what: string): void {
    if (this.remaining !== 0) this.verdict.fail("decode_error", `${what} has ${this.remaining} trailing bytes`)
  }
}

// -----------------------------------------------------------------------------
// ClientHello body
// -----------------------------------------------------------------------------

/** Bytes as a string, one char per byte (lossless; host names and ALPN ids are ASCII in practice). */
const latin1 = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]!)
  return out
}

/** A non-empty list of u16 values filling `list`. */
const u16List = (list: Reader, what: string): Array<number> => {
  if (list.remaining === 0) list.verdict.fail("decode_error", `${what} is empty`)
  if (list.remaining % 2 !== 0) list.verdict.fail("decode_error", `${what} has an odd length`)
  const out: Array<number> = []
  while (list.remaining > 0) out.push(list.u16(what))
  return out
}

/** extension_data that is exactly one vector of u16 values. */
const u16ListExtension = (data: Reader, width: 1 | 2, what: string): Array<number> => {
  const list = data.vector(width, what)
  data.done(what)
  return u16List(list, what)
}

/** server_name (RFC 6066 section 3): the one host_name; other name types are skipped. */
const serverNameOf = (data: Reader): string | undefined => {
  const verdict = data.verdict
  const list = data.vector(2, "server_name list")
  data.done("server_name")
  if (list.remaining === 0) return verdict.fail("decode_error", "server_name list is empty")
  let hostName: string | undefined
  while (list.remaining > 0) {
    const type = list.u8("server_name name_type")
    const name = list.vector(2, "server_name entry").rest()
    if (type !== NAME_TYPE_HOST_NAME) continue
    if (hostName !== undefined) return verdict.fail("illegal_parameter", "server_name carries two host names")
    if (name.length === 0) return verdict.fail("decode_error", "server_name host_name is empty")
    if (name.includes(0)) return verdict.fail("illegal_parameter", "server_name host_name contains a NUL byte")
    hostName = latin1(name)
  }
  return hostName ?? verdict.fail("decode_error", "server_name has no host_name")
}

/** application_layer_protocol_negotiation (RFC 7301 section 3.1): non-empty names, non-empty list. */
const alpnOf = (data: Reader): Array<string> => {
  const verdict = data.verdict
  const list = data.vector(2, "ALPN protocol list")
  data.done("ALPN")
  if (list.remaining === 0) verdict.fail("decode_error", "ALPN protocol list is empty")
  const out: Array<string> = []
  while (list.remaining > 0) {
    const name = list.vector(1, "ALPN protocol name").rest()
    if (name.length === 0) verdict.fail("decode_error", "an ALPN protocol name is empty")
    out.push(latin1(name))
  }
  return out
}

/** key_share (RFC 8446 section 4.2.8): the groups of the entries; the list itself may be empty. */
const keyShareGroupsOf = (data: Reader): Array<number> => {
  const list = data.vector(2, "key_share list")
  data.done("key_share")
  const groups: Array<number> = []
  while (list.remaining > 0) {
    groups.push(list.u16("key_share group"))
    const key = list.vector(2, "key_share key_exchange")
    if (key.remaining === 0) list.verdict.fail("decode_error", "a key_share entry has an empty key")
  }
  return groups
}

/** What the extensions say, as the `ClientHello` fields decoded from them. */
interface Decoded {
  readonly extensions: Array<Extension>
  serverName: Option.Option<string>
  alpnProtocols: Array<string>
  supportedVersions: Array<number>
  supportedGroups: Array<number>
  keyShareGroups: Array<number>
  signatureAlgorithms: Array<number>
}

/** Decode one extension's data into `into`, when it is one of the extensions we read. */
const decodeExtension = (type: number, data: Reader, into: Decoded): void => {
  switch (type) {
    case EXT_SERVER_NAME:
      // An empty server_name extension is legal only in a ServerHello.
      into.serverName = Option.fromNullable(serverNameOf(data))
      break
    case EXT_ALPN:
      into.alpnProtocols = alpnOf(data)
      break
    case EXT_SUPPORTED_VERSIONS:
      // In a ClientHello: ProtocolVersion versions<2..254>.
      into.supportedVersions = u16ListExtension(data, 1, "supported_versions")
      break
    case EXT_SUPPORTED_GROUPS:
      into.supportedGroups = u16ListExtension(data, 2, "supported_groups")
      break
    case EXT_SIGNATURE_ALGORITHMS:
      into.signatureAlgorithms = u16ListExtension(data, 2, "signature_algorithms")
      break
    case EXT_KEY_SHARE:
      into.keyShareGroups = keyShareGroupsOf(data)
      break
  }
}

/** The extensions block: every extension in order, each type at most once. */
const extensionsOf = (block: Reader): Decoded => {
  const decoded: Decoded = {
    extensions: [],
    serverName: Option.none(),
    alpnProtocols: [],
    supportedVersions: [],
    supportedGroups: [],
    keyShareGroups: [],
    signatureAlgorithms: []
  }
  const seen = new Set<number>()
  while (block.remaining > 0) {
    const type = block.u16("extension type")
    const data = block.vector(2, `extension ${type}`).rest()
    if (seen.has(type)) {
      block.verdict.fail("illegal_parameter", `extension ${type} appears twice`)
      break
    }
    seen.add(type)
    decoded.extensions.push({ type, data: data.slice() })
    decodeExtension(type, new Reader(block.verdict, data, 0, data.length), decoded)
  }
  return decoded
}

/** Parse a whole ClientHello body (the handshake message after its 4-byte header). */
const parseBody = (body: Uint8Array): ClientHello | Verdict => {
  const verdict = new Verdict()
  const r = new Reader(verdict, body, 0, body.length)
  const legacyVersion = r.u16("legacy_version")
  const random = r.bytesOf(32, "random").slice()
  const sessionId = r.vector(1, "legacy_session_id").rest().slice()
  if (sessionId.length > 32) verdict.fail("decode_error", "legacy_session_id is longer than 32 bytes")
  const cipherSuites = u16List(r.vector(2, "cipher_suites"), "cipher_suites")
  const compressionMethods = Array.from(r.vector(1, "legacy_compression_methods").rest())
  if (compressionMethods.length === 0) verdict.fail("decode_error", "legacy_compression_methods is empty")
  // The TLS 1.2 form may end here, without an extensions block.
  const block = r.remaining > 0 ? r.vector(2, "extensions") : r
  r.done("ClientHello")
  const decoded = extensionsOf(block)
  if (verdict.failed) return verdict
  return { legacyVersion, random, sessionId, cipherSuites, compressionMethods, ...decoded }
}

// -----------------------------------------------------------------------------
// First flight
// -----------------------------------------------------------------------------

/** What the first bytes are, when they do not start a handshake record. */
const notHandshake = (received: Uint8Array): Inspection => {
  const first = received[0]!
  if ((first & 0x80) !== 0) {
    return notTlsError(
      "ERR_SSL_SSLV2_CLIENT_HELLO",
      "the client sent an SSL 2.0-format hello, which TLS 1.2 and 1.3 servers do not accept"
    )
  }
  const text = latin1(received.subarray(0, LONGEST_METHOD))
  if (HTTP_METHODS.some((method) => text.startsWith(method))) {
    return notTlsError("ERR_SSL_HTTP_REQUEST", "the client sent an HTTP request to a TLS port")
  }
  // Still a possible method: wait for the bytes that decide.
  if (HTTP_METHODS.some((method) => method.startsWith(text))) return NEED_MORE
  return refuse("unexpected_message", `the first record has content type ${first}, not handshake (22)`)
}

const NO_BYTES = new Uint8Array(0)

/**
 * A growable byte buffer (amortized doubling). The first chunk is kept as
 * it is, not copied: a ClientHello usually arrives whole in one chunk, and
 * then nothing is allocated at all. The buffer owns a copy from the second
 * chunk on.
 */
class Bytes {
  data: Uint8Array = NO_BYTES
  length = 0
  /** Whether `data` is ours (else it is the caller's first chunk, read only). */
  private owned = false

  append(chunk: Uint8Array): void {
    if (this.length === 0) {
      this.data = chunk
      this.length = chunk.length
      this.owned = false
      return
    }
    const needed = this.length + chunk.length
    if (!this.owned || needed > this.data.length) {
      let size = Math.max(1024, this.data.length)
      while (size < needed) size *= 2
      const grown = new Uint8Array(size)
      grown.set(this.data.subarray(0, this.length))
      this.data = grown
      this.owned = true
    }
    this.data.set(chunk, this.length)
    this.length = needed
  }

  view(): Uint8Array {
    return this.data.subarray(0, this.length)
  }
}

/**
 * The first flight as it arrives: `push` each chunk. Once an answer is not
 * `NeedMore` it is final, and later pushes return it again.
 */
class FirstFlight {
  /** Every byte received. */
  readonly received = new Bytes()
  /** The handshake message, reassembled from whole record payloads. */
  private readonly message = new Bytes()
  /** Where the next record header starts in `received`. */
  private next = 0
  private outcome: Inspection = NEED_MORE

  push(chunk: Uint8Array): Inspection {
    if (this.outcome._tag === "NeedMore") {
      this.received.append(chunk)
      this.outcome = this.advance()
    }
    return this.outcome
  }

  /** Take in every whole record received since the last call. */
  private advance(): Inspection {
    const bytes = this.received.data
    const received = this.received.length
    if (received > 0 && bytes[0] !== CONTENT_HANDSHAKE) return notHandshake(this.received.view())
    while (this.next + RECORD_HEADER <= received) {
      const at = this.next
      const end = at + RECORD_HEADER + ((bytes[at + 3]! << 8) | bytes[at + 4]!)
      const header = this.checkRecordHeader(bytes, at)
      if (header !== undefined) return header
      if (end > MAX_BYTES) return tooLong("the first flight")
      if (end > received) return NEED_MORE
      this.message.append(bytes.subarray(at + RECORD_HEADER, end))
      this.next = end
      const outcome = this.messageSoFar()
      if (outcome !== NEED_MORE) return outcome
    }
    if (received > MAX_BYTES) return tooLong("the first flight")
    return NEED_MORE
  }

  /** A refusal for the record header at `at`, or undefined when it may carry the hello. */
  private checkRecordHeader(bytes: Uint8Array, at: number): Inspection | undefined {
    const type = bytes[at]!
    const major = bytes[at + 1]!
    const minor = bytes[at + 2]!
    const length = (bytes[at + 3]! << 8) | bytes[at + 4]!
    if (type !== CONTENT_HANDSHAKE) {
      return refuse("unexpected_message", `a record of content type ${type} arrived before the ClientHello was whole`)
    }
    if (major !== 3) {
      return notTlsError("ERR_SSL_WRONG_VERSION_NUMBER", `record version ${major}.${minor} is not TLS`)
    }
    if (minor < 1 || minor > 3) {
      return refuse("protocol_version", `record version 0x03${minor.toString(16).padStart(2, "0")} is not 0x0301..0x0303`)
    }
    if (length === 0) return refuse("unexpected_message", "an empty handshake record")
    if (length > MAX_RECORD) return refuse("record_overflow", `a record of ${length} bytes (at most ${MAX_RECORD})`)
    return undefined
  }

  /** The answer for the handshake message reassembled so far. */
  private messageSoFar(): Inspection {
    const m = this.message.data
    const have = this.message.length
    if (have >= 1 && m[0] !== HANDSHAKE_CLIENT_HELLO) {
      return refuse("unexpected_message", `the first handshake message has type ${m[0]}, not client_hello (1)`)
    }
    if (have < HANDSHAKE_HEADER) return NEED_MORE
    const length = (m[1]! << 16) | (m[2]! << 8) | m[3]!
    if (RECORD_HEADER + HANDSHAKE_HEADER + length > MAX_BYTES) return tooLong(`a ClientHello of ${length} bytes`)
    if (have < HANDSHAKE_HEADER + length) return NEED_MORE
    const parsed = parseBody(m.subarray(HANDSHAKE_HEADER, HANDSHAKE_HEADER + length))
    return parsed instanceof Verdict
      ? refuse(parsed.alert!, parsed.reason)
      : { _tag: "Complete", hello: parsed, length: this.next }
  }
}

// -----------------------------------------------------------------------------
// API
// -----------------------------------------------------------------------------

/** @internal */
export const inspect = (bytes: Uint8Array): Inspection => new FirstFlight().push(bytes)

/** @internal */
export const read = (
  transport: Transport
): Effect.Effect<{ readonly hello: ClientHello; readonly bytes: Uint8Array }, TlsError> =>
  Effect.suspend(() => {
    const flight = new FirstFlight()
    // With `immediate`, through it: its `readable` ends when the transport
    // is closed (the contract), so a deadline may close the transport.
    const next = transport.immediate === undefined ? transport.read : readThrough(transport.immediate)
    const loop: Effect.Effect<{ readonly hello: ClientHello; readonly bytes: Uint8Array }, TlsError> = Effect.flatMap(
      next,
      (chunk) => {
        if (Option.isNone(chunk)) return Effect.fail(new TlsUnexpectedEof({ phase: "handshake" }))
        const outcome = flight.push(chunk.value)
        switch (outcome._tag) {
          case "NeedMore":
            return loop
          case "Invalid":
            return Effect.fail(outcome.error)
          case "Complete":
            return Effect.succeed({ hello: outcome.hello, bytes: flight.received.view() })
        }
      }
    )
    return loop
  })

/** Alert descriptions (RFC 8446 section 6; RFC 6066, RFC 7301, RFC 8446 section B.2). */
const ALERT_CODES: ReadonlyMap<string, number> = new Map([
  ["close_notify", 0],
  ["unexpected_message", 10],
  ["bad_record_mac", 20],
  ["record_overflow", 22],
  ["handshake_failure", 40],
  ["bad_certificate", 42],
  ["unsupported_certificate", 43],
  ["certificate_revoked", 44],
  ["certificate_expired", 45],
  ["certificate_unknown", 46],
  ["illegal_parameter", 47],
  ["unknown_ca", 48],
  ["access_denied", 49],
  ["decode_error", 50],
  ["decrypt_error", 51],
  ["protocol_version", 70],
  ["insufficient_security", 71],
  ["internal_error", 80],
  ["inappropriate_fallback", 86],
  ["user_canceled", 90],
  ["missing_extension", 109],
  ["unsupported_extension", 110],
  ["unrecognized_name", 112],
  ["bad_certificate_status_response", 113],
  ["unknown_psk_identity", 115],
  ["certificate_required", 116],
  ["no_application_protocol", 120]
])

const INTERNAL_ERROR = 80
const CONTENT_ALERT = 21
const LEVEL_FATAL = 2

/** @internal */
export const alertRecord = (alert: string): Uint8Array =>
  // content type alert, legacy record version 0x0303, length 2, level fatal, description
  new Uint8Array([CONTENT_ALERT, 3, 3, 0, 2, LEVEL_FATAL, ALERT_CODES.get(alert) ?? INTERNAL_ERROR])
