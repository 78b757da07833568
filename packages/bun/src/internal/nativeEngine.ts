/**
 * The native fast path on Bun: Bun's own TLS sockets (`Bun.connect` with
 * `tls`), where BoringSSL runs inside Bun and no ciphertext crosses into JS.
 *
 * Theory of operation: core's driver (`TlsConnection.make`) joins an engine
 * to a transport. A native TLS socket is both at once, so it is split into
 * an engine that works at the plaintext level and a transport that carries
 * no bytes, only news:
 *
 * - `NativeEngine.read` answers with the plaintext Bun delivered, `None`
 *   after the peer ended, the socket's error, or `TlsWantRead` when nothing
 *   has arrived yet (DESIGN.md: "no plaintext buffered yet = WantRead");
 *   `handshake` likewise until Bun's `handshake` handler has run.
 * - The driver answers a WantRead by reading the transport (core's
 *   `NativeNews`): its `read` completes (with an empty chunk, which the engine ignores) as
 *   soon as the socket did something since the Want, then the driver asks
 *   the RetryPolicy and retries. So retry policies, time bounds, sticky
 *   errors, close_notify on scope close and `stream` / `sink` are core's,
 *   the same code as on the sans-IO path.
 * - `write` hands plaintext to Bun; what BoringSSL's socket does not take
 *   at once waits (copied) for `drain`. While more than WRITE_BOUND bytes
 *   wait, `write` answers TlsWantWrite without taking anything, and
 *   `writable` completes once Bun's drains brought them under the bound.
 * - Only events that can change what `read` or `handshake` answers count
 *   as news for the driver's reads (`news`): a drain is not one, so a
 *   concurrent upload never spends a pending read's retries.
 *
 * Verification: the socket is opened with `rejectUnauthorized: false` and
 * the chain result (`authorizationError`) and host name (core's
 * `ServerName.identityRefusal`, then `tls.checkServerIdentity` against
 * the decoded `verifyHost`, as the
 * node:tls engine does) are judged here, so the verify codes are the same
 * as on the sans-IO path. A rejected server is reset, like node:tls does.
 *
 * Not distinguishable here: close_notify and a bare TCP FIN both arrive as
 * Bun's `end`, so truncation reads as a clean end on this path.
 *
 * @internal
 */
import type {
  ConnectionInfo,
  EngineImmediate,
  EngineSecrets,
  EngineSession,
  PeerCertificate,
  TlsEngine
} from "@effect-tls/core/TlsEngine"
import {
  TlsAlertError,
  TlsCertificateError,
  TlsClosedError,
  type TlsError,
  TlsProtocolError,
  TlsTransportError,
  TlsUnexpectedEof,
  type TlsWantRead,
  type TlsWantWrite,
  want
} from "@effect-tls/core/TlsError"
import type { ResolvedClientConnect, ResolvedServerListen } from "@effect-tls/core/TlsOptions"
import { type Listener, makeNativeNews, type NativeNews, ownedByScope } from "@effect-tls/core/TlsRuntime"
import type { Transport } from "@effect-tls/core/Transport"
import * as Readiness from "@effect-tls/core/Readiness"
import * as ServerName from "@effect-tls/core/ServerName"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { X509Certificate } from "node:crypto"
import * as tls from "node:tls"
import {
  fromEngineSession,
  toEngineSession,
  toPeerCertificate,
  toPeerCertificateChain
} from "@effect-tls/node/NodeTlsEngine"
import { errorCode, listenSockets, transportError } from "./bunTransport.js"
import { SocketInbox, SocketOutbox } from "./socketQueues.js"

/** Bytes of plaintext held for the reader before the socket is paused. */
const READ_BOUND = 256 * 1024
/** Bytes of plaintext Bun refused that may wait for `drain` before `write` suspends. */
const WRITE_BOUND = 1024 * 1024

/** BoringSSL reasons that mean this side sent a fatal alert. */
const SENT_ALERTS: Record<string, string> = {
  WRONG_VERSION_NUMBER: "protocol_version",
  UNSUPPORTED_PROTOCOL: "protocol_version",
  NO_SHARED_CIPHER: "handshake_failure",
  DECRYPTION_FAILED_OR_BAD_RECORD_MAC: "bad_record_mac",
  BAD_RECORD_MAC: "bad_record_mac",
  UNEXPECTED_MESSAGE: "unexpected_message",
  UNEXPECTED_RECORD: "unexpected_message",
  DECODE_ERROR: "decode_error",
  // A record too short for its cipher: BoringSSL sends bad_record_mac
  // (what the peer receives, measured by the hostile-peer suite).
  BAD_PACKET_LENGTH: "bad_record_mac",
  NO_APPLICATION_PROTOCOL: "no_application_protocol"
}

/** A failure reported by Bun's TLS socket, as a typed error. */
const fromNativeError = (e: unknown, phase: "handshake" | "read", protocol?: string): TlsError => {
  const code = errorCode(e)
  const message = e instanceof Error ? e.message : String(e)
  if (code === "ECONNRESET" || code === "EPIPE") return transportError("Reset", e)
  const text = `${code ?? ""} ${message}`.toUpperCase().replace(/[\s/]+/g, "_")
  const received = /(?:SSLV3|TLSV1|TLSV13|TLS)_ALERT_([A-Z0-9_]+)/.exec(text)
  if (received !== null) {
    return new TlsAlertError({ alert: received[1]!.toLowerCase(), direction: "received", cause: e })
  }
  if (text.includes("PEER_DID_NOT_RETURN_A_CERTIFICATE")) {
    // TLS 1.2 has no certificate_required alert: BoringSSL sends handshake_failure.
    const alert = protocol === "TLSv1.3" ? "certificate_required" : "handshake_failure"
    return new TlsAlertError({ alert, direction: "sent", cause: e })
  }
  for (const [reason, alert] of Object.entries(SENT_ALERTS)) {
    if (text.includes(reason)) return new TlsAlertError({ alert, direction: "sent", cause: e })
  }
  // `error:1000009c:SSL routines:OPENSSL_internal:HTTP_REQUEST` as node:tls names it.
  const library = /SSL_ROUTINES:OPENSSL_INTERNAL:([A-Z0-9_]+)/.exec(text)
  if (library !== null) {
    return new TlsProtocolError({ code: `ERR_SSL_${library[1]}`, reason: message.slice(0, 200), cause: e })
  }
  if (code !== undefined && /^E[A-Z]+$/.test(code)) return transportError("ReadFailed", e)
  if (code === undefined && phase === "handshake" && message === "") return new TlsUnexpectedEof({ phase })
  return new TlsProtocolError({ code: code ?? "ERR_TLS", reason: message.slice(0, 200), cause: e })
}

/** A TLS library failure (`EPROTO`, `error:...:SSL routines:...`), not a verify result. */
const isLibraryError = (e: Error): boolean => errorCode(e) === "EPROTO" || /^error:[0-9a-f]+:/i.test(e.message)

type NativeSocket = Bun.Socket<NativeEngine>

/** @internal */
export class NativeEngine implements TlsEngine {
  readonly role: "client" | "server"
  socket: NativeSocket | undefined = undefined
  private readonly inbox = new SocketInbox(READ_BOUND)
  /** Plaintext Bun did not take yet (written on `drain`), then the shutdown. */
  private readonly outbox = new SocketOutbox()
  private opened = false
  private secure = false
  private ended = false
  private closed = false
  private closedByUs = false
  private failure: TlsError | undefined = undefined
  /**
   * Every event that can change what `read` or `handshake` answers (not
   * `drain`: a write making room is not news for a reader, so it never
   * spends a retry of a pending read): what the transport reports.
   */
  private readonly news: NativeNews = makeNativeNews()
  /** Any event of the socket. */
  private readonly events = Readiness.make()

  constructor(
    private readonly options: ResolvedClientConnect | ResolvedServerListen,
    /** A client's session to offer (set in `open`, before the handshake starts). */
    private readonly offeredSession?: Uint8Array | undefined
  ) {
    this.role = options.role
  }

  /**
   * Clients: Bun has no event for new sessions (node:tls's 'session');
   * `getSession()` gives the latest one. It is read once, when the
   * connection ends (the peer's end, or ours): every ticket processed by
   * then, the newest one only (Bun keeps one).
   */
  onSession: ((listener: (session: EngineSession) => void) => void) | undefined = undefined
  private sessionListener: ((session: EngineSession) => void) | undefined = undefined
  private sessionRead = false
  private keptSession: EngineSession | undefined = undefined

  private readSession(): void {
    // (No listener: nobody keeps sessions; Bun is not asked.)
    if (
      this.role !== "client" || this.sessionRead || this.sessionListener === undefined || !this.secure ||
      this.failure !== undefined || this.socket === undefined
    ) {
      return
    }
    this.sessionRead = true
    let data: unknown
    try {
      data = (this.socket as unknown as { getSession(): unknown }).getSession()
    } catch {
      return
    }
    if (!(data instanceof Uint8Array) || data.length === 0) return
    const session = toEngineSession(data)
    if (session === undefined) return
    if (this.sessionListener === undefined) this.keptSession = session
    else this.sessionListener(session)
  }

  private enableSessions(): void {
    this.onSession = (listener) => {
      this.sessionListener = listener
      const kept = this.keptSession
      this.keptSession = undefined
      if (kept !== undefined) listener(kept)
    }
  }

  private bump() {
    this.news.note()
    this.events.signal()
  }

  private wantRead(w: TlsWantRead): Effect.Effect<never, TlsWantRead> {
    this.news.wanted()
    return Effect.fail(w)
  }

  // Bun's handlers.

  onOpen(socket: NativeSocket) {
    this.socket = socket
    this.opened = true
    socket.setNoDelay(true)
    if (this.role === "client") {
      this.enableSessions()
      // Bun takes it here only (in `open`, before any write, with a
      // `handshake` handler); data it cannot decode is a full handshake.
      if (this.offeredSession !== undefined) {
        try {
          // (A session kept by the node:tls path carries the server's chain too.)
          socket.setSession(fromEngineSession(this.offeredSession).session)
        } catch {
          // A full handshake.
        }
      }
    }
    this.bump()
  }

  onHandshake(socket: NativeSocket, success: boolean, authorizationError: Error | null) {
    this.socket = socket
    const o = this.options
    // Bun reports a handshake that failed in the TLS library here too.
    if (authorizationError !== null && isLibraryError(authorizationError)) {
      let protocol: string | undefined
      try {
        protocol = socket.getTLSVersion()
      } catch {
        protocol = undefined
      }
      this.failure ??= fromNativeError(authorizationError, "handshake", protocol)
      this.closedByUs = true
      socket.end()
      this.bump()
      return
    }
    // Bun also calls this when the peer left before the handshake completed
    // (its FIN, or a client that rejected our certificate and went away),
    // with `success` false and either no error or the verify result of no
    // certificate at all: a handshake that never saw the peer's certificate
    // (a server that asked for none, or a client) ended early.
    if (!success && !peerCertificateSeen(socket, o.role === "server" && !o.requestCert)) {
      this.failure ??= new TlsUnexpectedEof({ phase: "handshake" })
      this.closedByUs = true
      socket.end()
      this.bump()
      return
    }
    if (o.role === "server") {
      if (o.requestCert && authorizationError !== null) {
        this.failure ??= new TlsCertificateError({
          code: errorCode(authorizationError) ?? "CERT_REJECTED",
          host: `${socket.remoteAddress}:${socket.remotePort}`,
          cause: authorizationError
        })
        this.closedByUs = true
        socket.end()
        this.bump()
        return
      }
    } else if (o.verify) {
      let failure: TlsError | undefined
      if (authorizationError !== null) {
        const code = errorCode(authorizationError) ?? "CERT_REJECTED"
        failure = new TlsCertificateError({ code, host: o.verifyHost, cause: authorizationError })
      } else {
        const cert = socket.getPeerCertificate()
        // Core's rule first: no DNS or IP subjectAltName, no match (never the CN).
        const refusal = ServerName.identityRefusal(o.verifyHost, cert.subjectaltname)
        const identity = Option.isSome(refusal)
          ? Object.assign(new Error(refusal.value), { code: "ERR_TLS_CERT_ALTNAME_INVALID" })
          : tls.checkServerIdentity(o.verifyHost, cert)
        if (identity !== undefined) {
          failure = new TlsCertificateError({
            code: errorCode(identity) ?? "ERR_TLS_CERT_ALTNAME_INVALID",
            host: o.verifyHost,
            cause: identity
          })
        }
      }
      if (failure !== undefined) {
        // Like node:tls: a client that rejects the server resets the connection.
        this.failure ??= failure
        this.closedByUs = true
        socket.terminate()
        this.bump()
        return
      }
    }
    if (this.options.keylog !== undefined) {
      // Bun calls the `keylog` handler after `handshake` (a client's traffic
      // secrets), with microtasks run in between: the handshake is taken on
      // the next turn, so that its lines are with the sink when it completes.
      setImmediate(() => {
        if (this.closedByUs || this.failure !== undefined) return
        this.secure = true
        this.bump()
      })
      return
    }
    this.secure = true
    this.bump()
  }

  onData(socket: NativeSocket, chunk: Uint8Array) {
    this.inbox.push(socket, chunk)
    this.bump()
  }

  onDrain(socket: NativeSocket) {
    this.outbox.flush(socket)
    this.events.signal()
    // What `immediate.writable` answers may have changed.
    this.outputListener?.()
  }

  onEnd() {
    this.readSession()
    this.ended = true
    this.bump()
  }

  onError(e: unknown) {
    this.failure ??= fromNativeError(e, this.secure ? "read" : "handshake")
    this.bump()
  }

  onClose(e: unknown) {
    this.closed = true
    if (e !== undefined && e !== null) this.failure ??= fromNativeError(e, this.secure ? "read" : "handshake")
    else if (!this.closedByUs) {
      if (this.secure) this.ended = true
      else this.failure ??= new TlsUnexpectedEof({ phase: "handshake" })
    }
    this.bump()
  }

  // The engine, at the plaintext level.

  // (Methods and Effects built on first use: a connection keeps one
  // engine for as long as it lives.)

  feed(_: Uint8Array): void {}
  feedEnd(): void {}
  drain(): ReadonlyArray<Uint8Array> {
    return []
  }
  pendingOutgoing(): number {
    return 0
  }
  get outgoingReady(): Effect.Effect<void> {
    return Effect.never
  }

  #handshake: Effect.Effect<void, TlsWantRead | TlsError> | undefined = undefined
  get handshake(): Effect.Effect<void, TlsWantRead | TlsError> {
    return this.#handshake ??= Effect.suspend(() => this.handshakeStep())
  }

  private handshakeStep(): Effect.Effect<void, TlsWantRead | TlsError> {
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.secure) return Effect.void
    // The peer ended (or the socket closed) before the handshake completed.
    if (this.closed || this.ended) return Effect.fail(new TlsUnexpectedEof({ phase: "handshake" }))
    return this.wantRead(want.read.handshake)
  }

  #read: Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> | undefined = undefined
  get read(): Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> {
    return this.#read ??= Effect.suspend(() => this.readNow())
  }

  /**
   * The driver's synchronous questions (`EngineImmediate`): a read that
   * finds plaintext and a write Bun takes (or queues under the bound) cost
   * it no Effect, and a write that must wait for room waits on the
   * driver's own event, which `onOutput`'s listener raises on every drain.
   */
  readonly immediate: EngineImmediate = {
    tryRead: () => {
      if (!this.inbox.isEmpty) return this.inbox.take(this.socket, this.closed)
      if (this.failure !== undefined || this.ended || this.closed) return undefined
      this.news.wanted()
      return "wantRead"
    },
    tryWrite: (plaintext) => {
      if (this.failure !== undefined || this.outbox.shutdownRequested || this.closed || this.socket === undefined) {
        return false
      }
      if (this.outbox.bytes > WRITE_BOUND) return false
      // Copied (what Bun does not take now): the caller may reuse its buffer.
      return this.outbox.send(this.socket, plaintext, true)
    },
    writable: () => this.canWrite()
  }

  /** Called on every drain: no ciphertext crosses into JS here, but writability changes. */
  private outputListener: (() => void) | undefined = undefined
  onOutput(listener: () => void): void {
    this.outputListener = listener
  }

  private canWrite(): boolean {
    return this.outbox.bytes <= WRITE_BOUND || this.failure !== undefined || this.closed || this.closedByUs
  }

  private readNow(): Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> {
    if (!this.inbox.isEmpty) return Effect.succeed(Option.some(this.inbox.take(this.socket, this.closed)))
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.ended) return Effect.succeed(Option.none())
    if (this.closed) return Effect.fail(new TlsClosedError({ operation: "read" }))
    return this.wantRead(want.read.read)
  }

  /** After TlsWantWrite: Bun took enough of what waits (or the socket is gone). */
  #writable: Effect.Effect<void> | undefined = undefined
  get writable(): Effect.Effect<void> {
    return this.#writable ??= this.events.until(() => this.canWrite())
  }

  write(plaintext: Uint8Array): Effect.Effect<number, TlsWantWrite | TlsError> {
    return Effect.suspend((): Effect.Effect<number, TlsWantWrite | TlsError> => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.outbox.shutdownRequested || this.closed || this.socket === undefined) {
        return Effect.fail(new TlsClosedError({ operation: "write" }))
      }
      if (plaintext.length === 0) return Effect.succeed(0)
      // What Bun refused waits for its `drain`; past the bound only that helps.
      if (this.outbox.bytes > WRITE_BOUND) return Effect.fail(want.write.write)
      // Copied: the caller may reuse its buffer once `write` returns.
      if (!this.outbox.send(this.socket, plaintext, true)) {
        return Effect.fail(this.failure ?? new TlsClosedError({ operation: "write" }))
      }
      return Effect.succeed(plaintext.length)
    })
  }

  /**
   * close_notify and FIN, after whatever plaintext still waits for Bun:
   * completes once Bun was told to shut down (so closing the socket after
   * it drops nothing that `write` accepted), or the socket is gone.
   */
  #shutdown: Effect.Effect<void, TlsError> | undefined = undefined
  get shutdown(): Effect.Effect<void, TlsError> {
    return this.#shutdown ??= Effect.suspend(() => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.socket !== undefined && !this.closed) this.outbox.requestShutdown(this.socket)
      return this.events.until(() =>
        this.outbox.shutdownSent || this.closed || this.closedByUs || this.failure !== undefined
      )
    })
  }

  get info(): Effect.Effect<ConnectionInfo> {
    return Effect.sync(() => this.infoNow())
  }

  private infoNow(): ConnectionInfo {
    const socket = this.socket!
    const cipher = socket.getCipher()
    const alpn = socket.alpnProtocol
    let x509: X509Certificate | undefined
    try {
      x509 = socket.getPeerX509Certificate()
    } catch {
      x509 = undefined
    }
    let decoded: Option.Option<PeerCertificate> | undefined
    let chain: ReadonlyArray<PeerCertificate> | undefined
    const o = this.options
    const servername = o.role === "client" ? o.sni : socket.getServername()
    return {
      role: o.role,
      protocol: socket.getTLSVersion() ?? "unknown",
      cipher: cipher?.standardName ?? cipher?.name ?? "unknown",
      alpnProtocol: typeof alpn === "string" ? Option.some(alpn) : Option.none(),
      servername: typeof servername === "string" && servername.length > 0 ? Option.some(servername) : Option.none(),
      authorized: o.role === "client" ? o.verify : o.requestCert && this.secure,
      get peerCertificate() {
        return decoded ??= x509 === undefined ? Option.none() : Option.some(toPeerCertificate(x509))
      },
      get peerCertificateChain() {
        return chain ??= x509 === undefined ? [] : toPeerCertificateChain(x509)
      },
      sessionReused: socket.isSessionReused()
    }
  }

  /**
   * Exported keying material from Bun's socket, and (with the `keylog`
   * option) the key log lines of its `keylog` handler (see
   * `keylogHandlers`).
   */
  #secrets: EngineSecrets | undefined = undefined
  get secrets(): EngineSecrets {
    return this.#secrets ??= {
      exportKeyingMaterial: (length, label, context) =>
        Effect.try({
          try: () => {
            const socket = this.socket
            if (socket === undefined) throw new Error("no socket")
            // No context at all is the call without one (Bun refuses `undefined`).
            const out = context === undefined
              ? (socket.exportKeyingMaterial as (length: number, label: string) => Buffer)(length, label)
              : socket.exportKeyingMaterial(length, label, Buffer.from(context.buffer, context.byteOffset, context.byteLength))
            return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
          },
          catch: (e): TlsError =>
            new TlsProtocolError({
              code: errorCode(e) ?? "ERR_TLS_EXPORTER",
              reason: (e instanceof Error ? e.message : String(e)).slice(0, 200),
              cause: e
            })
        }),
      onKeylog: this.options.keylog === undefined ? undefined : (listener) => {
        this.keylogListener = listener
        for (const line of this.keylogLines.splice(0)) listener(line)
      }
    }
  }

  /** Key log lines Bun reported before the driver listened, and its listener. */
  private keylogLines: Array<string> = []
  private keylogListener: ((line: string) => void) | undefined = undefined

  onKeylog(line: Uint8Array | string) {
    const text = (typeof line === "string" ? line : Buffer.from(line).toString("latin1")).replace(/\r?\n$/, "")
    if (this.keylogListener === undefined) this.keylogLines.push(text)
    else this.keylogListener(text)
  }

  #close: Effect.Effect<void> | undefined = undefined
  get close(): Effect.Effect<void> {
    return this.#close ??= Effect.sync(() => this.closeNow())
  }

  closeNow() {
    if (this.closedByUs) return
    this.readSession()
    this.closedByUs = true
    this.outbox.clear()
    // Closed without our close_notify having been asked for (a broken
    // connection, an abort): Bun's `end` would send one, so the socket is
    // terminated instead and the peer sees the connection end without it.
    if (!this.closed) {
      if (this.outbox.shutdownRequested) this.socket?.end()
      else this.socket?.terminate()
    }
    this.bump()
  }

  get destroy(): Effect.Effect<void> {
    return this.close
  }

  /**
   * The transport the driver reads for news: `read` completes once the
   * socket did something since the engine's last Want.
   */
  readonly activityTransport = (): Transport =>
    this.news.transport({
      isClosed: () => this.closedByUs,
      end: this.shutdown.pipe(Effect.catchAll(() => Effect.void)),
      close: this.close,
      remoteAddress: this.socket === undefined ? undefined : `${this.socket.remoteAddress}:${this.socket.remotePort}`
    })
}

/**
 * Whether the handshake got as far as the peer's certificate. A server
 * that asks for none counts as not having seen one only when the peer left
 * (`success` false with nothing to verify).
 */
const peerCertificateSeen = (socket: NativeSocket, noneAsked: boolean): boolean => {
  if (noneAsked) return false
  try {
    const cert = socket.getPeerCertificate() as { raw?: unknown } | undefined | null
    return cert !== undefined && cert !== null && cert.raw !== undefined
  } catch {
    return false
  }
}

const handlers: Bun.SocketHandler<NativeEngine> = {
  open: (s) => s.data.onOpen(s),
  handshake: (s, success, authorizationError) => s.data.onHandshake(s, success, authorizationError),
  data: (s, chunk) => s.data.onData(s, chunk),
  drain: (s) => s.data.onDrain(s),
  end: (s) => s.data.onEnd(),
  error: (s, e) => s.data.onError(e),
  close: (s, e) => s.data.onClose(e),
  connectError: () => {}
}

/**
 * The handlers of a connection with the `keylog` option: also Bun's
 * `keylog` handler, called with each NSS key log line (a Buffer, with its
 * line break) as BoringSSL produces it. Bun 1.4.5 calls it; bun-types
 * 1.4.4 does not declare it. Only these sockets have it, so no other
 * connection has its secrets cross into JS.
 */
const keylogHandlers = {
  ...handlers,
  keylog: (s: NativeSocket, line: Uint8Array) => s.data.onKeylog(line)
} as Bun.SocketHandler<NativeEngine>

/**
 * Whether Bun's native client can honour these options exactly: anything
 * but `ciphers` (BoringSSL's cipher strings and TLS 1.3 suites differ from
 * node:tls's, so a cipher list takes the engine path) and `crl`.
 * @internal
 */
export const supportsClient = (o: ResolvedClientConnect): boolean => o.ciphers === undefined && o.crl === undefined

/** BoringSSL's SSL_OP_NO_TLSv1_2 and SSL_OP_NO_TLSv1_3. */
const NO_TLS_1_2 = 0x08000000
const NO_TLS_1_3 = 0x20000000

/** `minVersion` / `maxVersion` as Bun's `secureOptions` (it has no version options). */
const versionOptions = (o: ResolvedClientConnect | ResolvedServerListen): number =>
  (o.minVersion === "TLSv1.3" ? NO_TLS_1_2 : 0) | (o.maxVersion === "TLSv1.2" ? NO_TLS_1_3 : 0)

/**
 * Open a native TLS client socket: wait (interruptibly, within the scope)
 * for the TCP connection; the handshake is the driver's.
 * @internal
 */
export const connect = (
  o: ResolvedClientConnect,
  session?: Uint8Array | undefined
): Effect.Effect<NativeEngine, TlsTransportError, Scope.Scope> =>
  ownedByScope(() => new NativeEngine(o, session), (engine) => engine.close).pipe(
    Effect.flatMap((engine) =>
      Effect.async<NativeEngine, TlsTransportError>((resume) => {
        let cancelled = false
        // serverName "" sends no SNI (Bun would send the IP address otherwise).
        const tlsOptions: Bun.TLSOptions = {
          rejectUnauthorized: false,
          serverName: o.sni ?? "",
          secureOptions: versionOptions(o)
        }
        if (o.ca !== undefined) tlsOptions.ca = [...o.ca]
        if (o.certChain !== undefined && o.key !== undefined) {
          tlsOptions.cert = o.certChain.join("\n")
          tlsOptions.key = Redacted.value(o.key)
        }
        if (o.alpnProtocols.length > 0) tlsOptions.ALPNProtocols = alpnWire(o.alpnProtocols)
        Bun.connect<NativeEngine>({
          hostname: o.host,
          port: o.port,
          allowHalfOpen: true,
          data: engine,
          tls: tlsOptions,
          socket: o.keylog === undefined ? handlers : keylogHandlers
        }).then(
          (socket) => {
            engine.socket ??= socket
            if (cancelled) return engine.closeNow()
            resume(Effect.succeed(engine))
          },
          (e: unknown) => {
            if (cancelled) return
            resume(Effect.fail(transportError(errorCode(e) === "ECONNREFUSED" ? "ConnectRefused" : "ConnectFailed", e)))
          }
        )
        return Effect.sync(() => {
          cancelled = true
          engine.closeNow()
        })
      })
    )
  )

/** ALPN names in wire format (length-prefixed), as Bun takes them. */
const alpnWire = (names: ReadonlyArray<string>): Uint8Array => {
  const encoded = names.map((n) => new TextEncoder().encode(n))
  const out = new Uint8Array(encoded.reduce((n, e) => n + 1 + e.length, 0))
  let offset = 0
  for (const e of encoded) {
    out[offset++] = e.length
    out.set(e, offset)
    offset += e.length
  }
  return out
}

/** Whether Bun's native server can honour these options exactly (see `supportsClient`). @internal */
export const supportsServer = (o: ResolvedServerListen): boolean => o.ciphers === undefined && o.crl === undefined

/**
 * Listen with Bun's native TLS server. Each accepted socket gets its
 * engine when Bun opens it (before the handshake, since a `handshake`
 * handler is set); `accept` hands out engines, whose handshakes the
 * driver runs.
 * @internal
 */
export const listen = (
  o: ResolvedServerListen
): Effect.Effect<Listener & { readonly acceptEngine: Effect.Effect<NativeEngine> }, TlsTransportError, Scope.Scope> => {
  const tlsOptions: Bun.TLSOptions = {
    cert: o.certChain.join("\n"),
    key: Redacted.value(o.key),
    requestCert: o.requestCert,
    rejectUnauthorized: o.requestCert,
    secureOptions: versionOptions(o)
  }
  if (o.ca !== undefined) tlsOptions.ca = [...o.ca]
  if (o.alpnProtocols.length > 0) tlsOptions.ALPNProtocols = alpnWire(o.alpnProtocols)
  return Effect.map(
    listenSockets(
      { hostname: o.host, port: o.port, tls: tlsOptions, reusePort: o.reusePort },
      () => new NativeEngine(o),
      o.keylog === undefined ? handlers : keylogHandlers
    ),
    ({ address, next }) => ({
      address,
      accept: Effect.map(next, (engine) => engine.activityTransport()),
      acceptEngine: next
    })
  )
}
