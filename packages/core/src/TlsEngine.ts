/**
 * The sans-IO TLS engine: the `ssl.SSLObject` analogue.
 *
 * An engine never does I/O. Ciphertext from the peer goes in through `feed`
 * (the incoming BIO) and ciphertext for the peer comes out through `drain`
 * (the outgoing BIO). `handshake`, `read`, `write` and `shutdown` are Effects
 * that fail with `TlsWantRead` when nothing more can happen until the peer
 * sends more ciphertext, and with `TlsWantWrite` when the outgoing buffer is
 * over its bound and must be drained first. Neither is ever raised while the
 * engine could still make progress on its own.
 *
 * Engines come from the runtime layers (`NodeTls`, `BunTls`); the driver in
 * `TlsConnection` joins one to a `Transport`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type {
  TlsError,
  TlsWant,
  TlsWantRead,
  TlsWantWrite
} from "./TlsError.js"

/**
 * The peer's certificate, as the runtime's TLS library decoded it.
 *
 * @since 0.1.0
 * @category models
 */
export interface PeerCertificate {
  /** Subject fields: `{ CN: "localhost", O: "..." }`. */
  readonly subject: Readonly<Record<string, string>>
  readonly issuer: Readonly<Record<string, string>>
  /** `"DNS:localhost, IP Address:127.0.0.1"`, when present. */
  readonly subjectAltName: Option.Option<string>
  readonly serialNumber: string
  readonly validFrom: Date
  readonly validTo: Date
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly fingerprint256: string
  /** The DER encoding. */
  readonly raw: Uint8Array
}

/**
 * What was negotiated.
 *
 * @since 0.1.0
 * @category models
 */
export interface ConnectionInfo {
  readonly role: "client" | "server"
  /** `"TLSv1.3"`, `"TLSv1.2"`. */
  readonly protocol: string
  /** The cipher suite's standard name, `"TLS_AES_256_GCM_SHA384"`. */
  readonly cipher: string
  readonly alpnProtocol: Option.Option<string>
  /** The SNI name: sent (client) or received (server). */
  readonly servername: Option.Option<string>
  /** Whether the peer's certificate was verified (false when none was checked). */
  readonly authorized: boolean
  readonly peerCertificate: Option.Option<PeerCertificate>
  /**
   * The peer's certificate chain, leaf first, then each issuer the peer
   * sent or the trust store supplied, up to a self-signed root when one is
   * known; empty when the peer sent no certificate. Decoded when first read.
   *
   * @since 0.2.0
   */
  readonly peerCertificateChain: ReadonlyArray<PeerCertificate>
  readonly sessionReused: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TlsEngine {
  readonly role: "client" | "server"
  /** Hand ciphertext received from the peer to the engine. */
  readonly feed: (ciphertext: Uint8Array) => void
  /** Tell the engine that the transport has no more input. */
  readonly feedEnd: () => void
  /** Take every byte of pending outgoing ciphertext, in order. */
  readonly drain: () => ReadonlyArray<Uint8Array>
  /** Bytes of outgoing ciphertext waiting to be drained. */
  readonly pendingOutgoing: () => number
  /**
   * Completes when outgoing ciphertext is waiting (at once if some already
   * is). Engines whose library works asynchronously produce ciphertext
   * after the call that caused it; the driver flushes when this completes.
   */
  readonly outgoingReady: Effect.Effect<void>
  /**
   * Optional: register the one function the engine calls, synchronously,
   * whenever outgoing ciphertext becomes available (including ciphertext
   * produced later by an asynchronous library). A driver that registers it
   * flushes in that step and does not wait on `outgoingReady`. The
   * function may call `drain` (re-entrantly, from inside the engine's own
   * output path): the engine must allow that.
   */
  readonly onOutput?: ((listener: () => void) => void) | undefined
  /**
   * Optional synchronous questions for the common case, so that a driver
   * spends no Effect on a read that finds plaintext or a write the engine
   * takes whole. They answer exactly as `read` and `write` would, and
   * leave every other case (a Want, a failure, the end, a wait) to them.
   */
  readonly immediate?: EngineImmediate | undefined
  /**
   * Optional: the connection's secrets, where the runtime's TLS library
   * gives them out (exported keying material, key log lines).
   *
   * @since 0.3.0
   */
  readonly secrets?: EngineSecrets | undefined
  /**
   * Optional, clients: registers the one function that receives each
   * resumable session the server gives (TLS 1.3 tickets come after the
   * handshake, often several), synchronously, as the library reports it.
   * Sessions reported before a function was registered are kept and handed
   * to it when it is; an engine may also start asking its library for
   * sessions only then (so that a client that keeps none pays nothing), so
   * register it before the handshake. An engine reports what reached it
   * before `destroy`, so the driver feeds what the transport already holds
   * when closing.
   *
   * @since 0.3.0
   */
  readonly onSession?: ((listener: (session: EngineSession) => void) => void) | undefined
  /**
   * After `write` or `shutdown` answered `TlsWantWrite`: completes once the
   * engine may accept bytes again (its outgoing buffer was drained below
   * its bound, it failed, or it was destroyed). The driver drains the
   * engine meanwhile; this wait never does I/O itself.
   */
  readonly writable: Effect.Effect<void>
  /** Advance the handshake; succeeds once it is complete. */
  readonly handshake: Effect.Effect<void, TlsWant | TlsError>
  /**
   * Decrypted application data: the next piece that is ready (the engine
   * chooses its size). `None` once the peer's
   * close_notify has been read; `TlsUnexpectedEof` when input ended without it.
   */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError>
  /**
   * Encrypt application data. Succeeds with the number of bytes taken, which
   * may be fewer than given; answers `TlsWantWrite` when it can take none
   * until it is drained. It never waits: the bytes it reports taken are
   * taken in the same synchronous step, which is what lets the driver know
   * exactly how much of an interrupted write went out.
   */
  readonly write: (plaintext: Uint8Array) => Effect.Effect<number, TlsWantWrite | TlsError>
  /** Queue close_notify; afterwards `write` fails with `TlsClosedError`. */
  readonly shutdown: Effect.Effect<void, TlsWant | TlsError>
  /** What was negotiated; meaningful once the handshake is complete. */
  readonly info: Effect.Effect<ConnectionInfo>
  /** Free the engine. Idempotent. */
  readonly destroy: Effect.Effect<void>
}

/**
 * What an engine can answer at once (rustls asks `wants_read` the same
 * way). Neither method waits, and neither changes anything unless it
 * succeeds.
 *
 * @since 0.2.0
 * @category models
 */
export interface EngineImmediate {
  /**
   * Plaintext `read` would return now (taken); `"wantRead"` when `read`
   * would answer `TlsWantRead` (the engine needs ciphertext); `undefined`
   * for anything else (end, failure, a wait): ask `read`.
   */
  readonly tryRead: () => Uint8Array | "wantRead" | undefined
  /**
   * Accept all of `plaintext` now (true), or none of it (false: `write`
   * says why, or takes part of it). Accepted bytes were copied, or the
   * engine is done with them when this returns.
   */
  readonly tryWrite: (plaintext: Uint8Array) => boolean
  /**
   * Whether `writable` would complete now. An engine with `onOutput`
   * calls its listener whenever this may have changed, so a driver can
   * wait for it without a fiber of its own.
   */
  readonly writable: () => boolean
}

/**
 * A resumable session a client engine reports. Secret: never logged.
 *
 * @since 0.3.0
 * @category models
 */
export interface EngineSession {
  /** The library's encoding, given back as `EngineParameters.session`. */
  readonly data: Uint8Array
  /** The lifetime the server gave it, when the library says. */
  readonly lifetimeSeconds: number | undefined
  /** A TLS 1.3 ticket: offered once only. */
  readonly singleUse: boolean
}

/**
 * What an engine's TLS library gives out about the connection's secrets.
 *
 * @since 0.3.0
 * @category models
 */
export interface EngineSecrets {
  /**
   * The exporter of RFC 5705 / RFC 8446 section 7.5, once the handshake is
   * complete: `length` bytes for `label` and `context` (`undefined` is no
   * context, which TLS 1.2 tells apart from an empty one). The arguments
   * were checked by the caller; what the library refuses is a `TlsError`.
   */
  readonly exportKeyingMaterial: (
    length: number,
    label: string,
    context: Uint8Array | undefined
  ) => Effect.Effect<Uint8Array, TlsError>
  /**
   * Present on engines made with a `keylog` option whose library reports
   * key log lines: registers the one function that receives each line
   * (NSS key log format, without the line break), synchronously, as the
   * library produces it. Lines produced before a function was registered
   * are kept and handed to it when it is.
   */
  readonly onKeylog?: ((listener: (line: string) => void) => void) | undefined
}

/**
 * Builds engines for one set of options. Creating the factory is where a
 * runtime reports options its TLS library rejects (`TlsConfigError`),
 * before any connection exists.
 *
 * @since 0.1.0
 * @category models
 */
export interface TlsEngineFactory {
  /**
   * A new engine for one connection. `remoteAddress` names the peer in
   * errors (the server side has no host name to report). `alpnProtocols`,
   * when given, replaces the options' list for this engine: a server whose
   * protocol was already chosen from the ClientHello passes just that one
   * (or none, to negotiate no ALPN).
   */
  readonly make: (peer: EngineParameters) => Effect.Effect<TlsEngine>
}

/**
 * Per-connection parameters of `TlsEngineFactory.make`.
 *
 * @since 0.2.0
 * @category models
 */
export interface EngineParameters {
  readonly remoteAddress: string | undefined
  readonly alpnProtocols?: ReadonlyArray<string> | undefined
  /**
   * A client's session to offer for resumption (an `EngineSession`'s
   * `data`). Data the library cannot decode is ignored: a full handshake.
   *
   * @since 0.3.0
   */
  readonly session?: Uint8Array | undefined
}
