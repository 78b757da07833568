/**
 * Typed failures of effect-tls. The `_tag` of every class here is public
 * contract: programs branch on it with `Effect.catchTag`.
 *
 * `TlsWantRead` and `TlsWantWrite` are the two recoverable signals of the
 * sans-IO engine; the driver retries them under a RetryPolicy. Every other
 * class is a `TlsError`.
 *
 * No message built here ever contains key material: errors carry codes,
 * names and host names only.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Predicate from "effect/Predicate"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("@effect-tls/core/TlsError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * The engine cannot make progress until the peer sends more ciphertext.
 *
 * @since 0.1.0
 * @category want
 */
export class TlsWantRead extends Data.TaggedError("TlsWantRead")<{
  /** What the engine was doing when it ran out of input. */
  readonly operation: "handshake" | "read" | "write" | "shutdown"
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.operation} needs more ciphertext from the peer`
  }
}

/**
 * The engine's outgoing buffer is over its bound and must be flushed first.
 *
 * @since 0.1.0
 * @category want
 */
export class TlsWantWrite extends Data.TaggedError("TlsWantWrite")<{
  readonly operation: "handshake" | "read" | "write" | "shutdown"
}> {
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.operation} must wait until the outgoing ciphertext is flushed`
  }
}

/**
 * Shared instances of the Want errors, one per operation. Engines raise
 * them on hot paths (every read that waits for the peer), so they are
 * built once rather than per call.
 *
 * @since 0.1.0
 * @category want
 */
export const want = {
  read: {
    handshake: new TlsWantRead({ operation: "handshake" }),
    read: new TlsWantRead({ operation: "read" }),
    write: new TlsWantRead({ operation: "write" }),
    shutdown: new TlsWantRead({ operation: "shutdown" })
  },
  write: {
    handshake: new TlsWantWrite({ operation: "handshake" }),
    read: new TlsWantWrite({ operation: "read" }),
    write: new TlsWantWrite({ operation: "write" }),
    shutdown: new TlsWantWrite({ operation: "shutdown" })
  }
} as const

/**
 * @since 0.1.0
 * @category want
 */
export type TlsWant = TlsWantRead | TlsWantWrite

/**
 * @since 0.1.0
 * @category refinements
 */
export const isTlsWant = (u: unknown): u is TlsWant =>
  Predicate.isTagged(u, "TlsWantRead") || Predicate.isTagged(u, "TlsWantWrite")

/**
 * Options were rejected before any I/O happened.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsConfigError extends Data.TaggedError("TlsConfigError")<{
  /** The option at fault, as a dotted path (`"cert"`, `"alpnProtocols[1]"`). */
  readonly option: string
  /** Why it was rejected; never contains the option's value when it is secret. */
  readonly reason: string
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `invalid TLS option ${this.option}: ${this.reason}`
  }
}

/**
 * What went wrong with the transport.
 *
 * @since 0.1.0
 * @category errors
 */
export type TransportErrorReason =
  | "ConnectRefused"
  | "ConnectFailed"
  | "HostNotFound"
  | "Reset"
  | "ReadFailed"
  | "WriteFailed"
  | "Closed"
  | "ListenFailed"

/**
 * The byte pipe under TLS failed: connect refused, reset, read or write failure.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsTransportError extends Data.TaggedError("TlsTransportError")<{
  readonly reason: TransportErrorReason
  /** The system error code when there is one (`ECONNREFUSED`, `ECONNRESET`, ...). */
  readonly code?: string
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `transport: ${this.reason}${this.code === undefined ? "" : ` (${this.code})`}`
  }
}

/**
 * Certificate verification failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsCertificateError extends Data.TaggedError("TlsCertificateError")<{
  /**
   * The verification code: `CERT_HAS_EXPIRED`, `ERR_TLS_CERT_ALTNAME_INVALID`,
   * `DEPTH_ZERO_SELF_SIGNED_CERT`, `UNABLE_TO_VERIFY_LEAF_SIGNATURE`,
   * `SELF_SIGNED_CERT_IN_CHAIN`, `UNABLE_TO_GET_ISSUER_CERT_LOCALLY`, ...
   */
  readonly code: string
  /** The host name that was verified (client side), or the peer's address. */
  readonly host: string
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `certificate of ${this.host} rejected: ${this.code}`
  }
}

/**
 * A TLS alert was sent or received.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsAlertError extends Data.TaggedError("TlsAlertError")<{
  /** The alert's name as in RFC 8446 section 6 (`handshake_failure`, `unknown_ca`, ...). */
  readonly alert: string
  readonly direction: "sent" | "received"
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `TLS alert ${this.alert} ${this.direction}`
  }
}

/**
 * Any other failure reported by the TLS library.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsProtocolError extends Data.TaggedError("TlsProtocolError")<{
  /** The library's error code (`ERR_SSL_WRONG_VERSION_NUMBER`, ...). */
  readonly code: string
  readonly reason: string
  readonly cause?: unknown
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `TLS protocol error ${this.code}: ${this.reason}`
  }
}

/**
 * The transport ended without the peer's close_notify: the data may have
 * been truncated.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsUnexpectedEof extends Data.TaggedError("TlsUnexpectedEof")<{
  readonly phase: "handshake" | "read" | "shutdown"
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `the peer ended the transport without close_notify during ${this.phase}`
  }
}

/**
 * A time bound ran out.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsTimeoutError extends Data.TaggedError("TlsTimeoutError")<{
  /**
   * `"idle"`: a server's established connection on which no read or write
   * completed for `idleTimeout` (the connection is closed abortively).
   */
  readonly phase: "connect" | "handshake" | "read" | "write" | "idle"
  /** The bound, in milliseconds. */
  readonly millis: number
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return `${this.phase} timed out after ${this.millis} ms`
  }
}

/**
 * An operation on a connection that is already closed.
 *
 * @since 0.1.0
 * @category errors
 */
export class TlsClosedError extends Data.TaggedError("TlsClosedError")<{
  readonly operation: string
  /**
   * Why the connection is closed, when it was not closed on purpose:
   * `"WriteInterrupted"` means a `write` was interrupted after the engine
   * had taken part of its bytes, so the peer may have received a cut-off
   * message; the connection is broken and every later call fails with
   * this same error (close_notify is never sent after it).
   */
  readonly reason?: "WriteInterrupted" | undefined
  /** For `"WriteInterrupted"`: bytes of the interrupted write that were taken, and its size. */
  readonly written?: number | undefined
  readonly size?: number | undefined
}> {
  readonly [TypeId]: TypeId = TypeId
  /** @since 0.1.0 */
  override get message(): string {
    return this.reason === "WriteInterrupted"
      ? `${this.operation}: the TLS connection is broken, a write was interrupted after ${this.written} of ${this.size} bytes`
      : `${this.operation} on a closed TLS connection`
  }
}

/**
 * Every non-recoverable failure of effect-tls.
 *
 * @since 0.1.0
 * @category errors
 */
export type TlsError =
  | TlsConfigError
  | TlsTransportError
  | TlsCertificateError
  | TlsAlertError
  | TlsProtocolError
  | TlsUnexpectedEof
  | TlsTimeoutError
  | TlsClosedError

/**
 * @since 0.1.0
 * @category refinements
 */
export const isTlsError = (u: unknown): u is TlsError => Predicate.hasProperty(u, TypeId)
