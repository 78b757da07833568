/**
 * A sans-IO engine over node:tls.
 *
 * Theory of operation: a `tls.TLSSocket` sits on an in-memory Duplex (`bio`)
 * that plays both BIOs. Pushing into the Duplex's readable side is `feed`;
 * whatever node:tls writes into its writable side lands in `outgoing`,
 * which `drain` empties. Decrypted data arrives as 'data' events into
 * `plaintext`.
 *
 * Readiness. Before an operation may answer TlsWantRead, node:tls must
 * have caught up with the input fed so far, so that a Want is raised only
 * when node:tls can do nothing more without input. On Node this is read
 * exactly from node's stream state (`caughtUp`): once the Duplex flows,
 * node:tls decrypts what is fed synchronously inside `feed`, and the few
 * steps it defers (the first read, an end or a failure emitted on the next
 * tick) are visible in that state and end with a named event the engine
 * waits for. Writing may take node:tls a turn per write (its stream
 * wrapper completes writes on the next turn); the driver's flusher picks
 * that ciphertext up whenever it appears. Bun's node:tls is read the same
 * way: no wait anywhere is for a quiet event loop.
 *
 * Backpressure: `_write` callbacks of the Duplex are held while `outgoing`
 * is over its bound, so node:tls stops producing; `write` answers
 * TlsWantWrite then. The TLSSocket is paused while `plaintext` is over its
 * bound, which stops it consuming ciphertext.
 *
 * Clean close vs truncation: node:tls reports both as 'end'. The engine
 * sees the transport's end-of-input itself (`feedEnd`), and only hands it
 * to node:tls after everything fed before it has been processed: an 'end'
 * seen before that point came from the peer's close_notify.
 *
 * The native path (`adopt`, for connections that allow truncation): the
 * same engine with the TLSSocket on a TCP socket's own handle instead of
 * the Duplex. node:tls then reads and writes the socket itself; the engine
 * works at the plaintext level, and its transport (core's `NativeNews`) carries no
 * bytes, only news: a socket event that can change what `read` or
 * `handshake` answers, since the engine's last Want. 'end' is a clean end
 * there (the option's trade). Writes follow node's own backpressure
 * (`nativeAccepts`), and node:tls's handshake event is taken on the next
 * turn (see `onSecureEvent`). A full record of plaintext is news on the
 * next turn too, once every record of that TCP read is in (`onPlaintext`):
 * a reader wakes once per TCP read, not once per record.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type {
  ConnectionInfo,
  EngineImmediate,
  EngineParameters,
  EngineSecrets,
  EngineSession,
  PeerCertificate,
  TlsEngine,
  TlsEngineFactory
} from "@effect-tls/core/TlsEngine"
import {
  type AdoptParameters,
  makeNativeNews,
  type NativeConnection,
  type NativeNews,
  ownedByScope
} from "@effect-tls/core/TlsRuntime"
import type { Transport } from "@effect-tls/core/Transport"
import type * as Scope from "effect/Scope"
import {
  TlsCertificateError,
  TlsClosedError,
  TlsConfigError,
  type TlsError,
  TlsProtocolError,
  TlsUnexpectedEof,
  type TlsWantRead,
  type TlsWantWrite,
  want
} from "@effect-tls/core/TlsError"
import type { ResolvedClient, ResolvedCommon, ResolvedServer } from "@effect-tls/core/TlsOptions"
import * as Readiness from "@effect-tls/core/Readiness"
import * as ServerName from "@effect-tls/core/ServerName"
import { constants, X509Certificate } from "node:crypto"
import type { Socket } from "node:net"
import { Duplex } from "node:stream"
import * as tls from "node:tls"
import { errorCode, fromTlsError } from "./errors.js"

/** OpenSSL's SSL_OP_NO_RENEGOTIATION (node:crypto has it where the library does). */
const NO_RENEGOTIATION: number | undefined = constants.SSL_OP_NO_RENEGOTIATION

/**
 * Output held before `write` answers TlsWantWrite: plaintext waiting in
 * node:tls plus ciphertext not drained yet (node:tls is stopped there).
 * Over a JS stream node:tls takes one write per event-loop turn, so this
 * is what one turn can encrypt: 256 KiB moved 128 MiB in 1.55 s, 1 MiB in
 * 1.30 s (node:tls on the TCP handle: 0.34-0.43 s).
 */
const OUTGOING_BOUND = 1024 * 1024
/** Bytes of plaintext held for the reader before node:tls stops decrypting. */
const PLAINTEXT_BOUND = 256 * 1024
/** Writes smaller than this are coalesced into one buffer of this size (one record). */
const COALESCE_BYTES = 16 * 1024
/** node:tls takes a write's bytes in the call when nothing is queued ahead (Node; not Bun's implementation). */
const SYNCHRONOUS_TLS_WRITE = (globalThis as { Bun?: unknown }).Bun === undefined
/**
 * Coalescing buffers free for the next batch of any connection (a
 * connection keeps none while it does not write). A new 16 KiB buffer per
 * batch is memory outside the JavaScript heap, and enough of it makes V8
 * run full collections: an echo of small messages makes two batches per
 * round trip, and its 99th percentile was those collections.
 */
const spareBuffers: Array<Buffer> = []
const SPARE_BUFFERS = 16

/** On the TCP handle: small writes are still coalesced while at most this much waits in node:tls. */
const NATIVE_SLACK = 64 * 1024

/** The smallest piece `write` accepts when it accepts anything (one record). */
const MIN_ACCEPT = 16 * 1024
/** The most plaintext one TLS record carries. */
const FULL_RECORD = 16 * 1024
type Phase = "handshake" | "read"

/** Where an emitter (the TLSSocket, the Duplex) keeps its engine, for the shared listeners. */
const kEngine = Symbol("effect-tls/NodeEngine")
interface Owned {
  readonly [kEngine]: NodeEngine
}

/**
 * The in-memory Duplex under the TLSSocket: its readable side is what
 * `feed` pushes, its writable side what node:tls writes (ciphertext).
 */
class Bio extends Duplex {
  readonly [kEngine]: NodeEngine
  constructor(engine: NodeEngine) {
    super({ allowHalfOpen: true })
    this[kEngine] = engine
  }
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this[kEngine].onCiphertext(chunk, callback)
  }
  override _final(callback: (error?: Error | null) => void): void {
    this[kEngine].onOutputEnded()
    callback()
  }
}

/** The engine's `immediate` answers, as methods of one small object. */
class Immediate implements EngineImmediate {
  constructor(private readonly engine: NodeEngine) {}
  tryRead(): Uint8Array | "wantRead" | undefined {
    return this.engine.tryRead()
  }
  tryWrite(plaintext: Uint8Array): boolean {
    return this.engine.tryWrite(plaintext)
  }
  writable(): boolean {
    return this.engine.canWrite()
  }
}

class NodeEngine implements TlsEngine {
  /** The in-memory Duplex under the TLSSocket; none on the native path (TLS on the TCP handle). */
  private readonly bio: Bio | undefined
  private readonly socket: tls.TLSSocket
  private outgoing: Array<Buffer> = []
  private outgoingBytes = 0
  private heldCallbacks: Array<(error?: Error | null) => void> = []
  /** Any step node:tls took: ciphertext produced or drained, plaintext, handshake, end, failure. */
  private readonly progress = Readiness.make()
  /**
   * Ciphertext was produced: the one event the driver's flusher waits for,
   * kept apart from `progress` so that the many other steps of a busy
   * connection do not wake it.
   */
  private readonly output = Readiness.make()
  private plaintext: Array<Buffer> = []
  private plaintextBytes = 0
  private paused = false
  private secure = false
  private failure: TlsError | undefined = undefined
  private inputEnded = false
  private eofPushed = false
  private closeNotifyReceived = false
  private tlsEnded = false
  private shutdownStarted = false
  /** node:tls ended the Duplex: everything it will ever write (close_notify last) was written. */
  private outputEnded = false
  private destroyed = false
  /**
   * The server's certificate and its issuers (leaf first) as DER, kept by a
   * verified client's host name check: only the bytes, not node:tls's
   * decoded objects (a few KiB of strings per connection).
   */
  peerChainDer: ReadonlyArray<Buffer> | undefined = undefined
  /** The server's chain (DER) kept with the session this client offered. */
  sessionChainDer: ReadonlyArray<Buffer> | undefined = undefined
  /** The TLSSocket emitted 'close' (after its 'error', if any). */
  private closed = false
  /** Bytes of ciphertext node:tls wrote, in all. */
  private written = 0
  /** `written` when input was last fed: whether an alert followed the input that failed. */
  private writtenAtFeed = 0

  /**
   * Socket events that can change what `read` or `handshake` answers (on
   * the native path, what its activity transport reports; a drain is not
   * one, so a concurrent upload spends no read's retries).
   */
  /**
   * Socket events that can change what `read` or `handshake` answers: on
   * the native path, what its transport reports (a drain is not one, so a
   * concurrent upload spends no read's retries).
   */
  private readonly news: NativeNews = makeNativeNews()

  /** News, which is also progress. */
  private noteNews(): void {
    this.news.note()
    this.bump()
  }

  constructor(
    readonly role: "client" | "server",
    private readonly host: string,
    create: (under: Duplex, engine: NodeEngine) => tls.TLSSocket,
    private readonly verifyClient: boolean,
    /** The native path: node:tls runs on this TCP socket's own handle. */
    tcp?: Socket
  ) {
    // Every listener below is a function shared by all engines, called
    // with the emitter as `this` (which points back here): an engine pays
    // for no closure per listener.
    const bio = tcp === undefined ? new Bio(this) : undefined
    this.bio = bio
    const socket = create(bio ?? tcp!, this)
    this.socket = socket
    ;(socket as unknown as { [kEngine]: NodeEngine })[kEngine] = this
    socket.on(role === "client" ? "secureConnect" : "secure", NodeEngine.onSecureEvent)
    socket.on("data", NodeEngine.onDataEvent)
    socket.on("end", NodeEngine.onEndEvent)
    socket.on("error", NodeEngine.onErrorEvent)
    // After the handshake, node:tls reports a failure (a record that does
    // not decrypt, a record of the wrong type, a renegotiation refused) as
    // 'error' only once `_releaseControl()` ran, which tls.Server and
    // tls.connect do and a TLSSocket made on its own never does; it always
    // emits it as '_tlsError' first. Without this a server would never
    // learn that its peer's records were tampered with.
    socket.on("_tlsError", NodeEngine.onErrorEvent)
    socket.on("close", NodeEngine.onCloseEvent)
    // node:tls took everything queued for it after a write had to wait:
    // with `drain()`, what makes `writable` true again (no callback per
    // write: a stream of small writes would pay for one each).
    socket.on("drain", NodeEngine.onDrainEvent)
    if (bio === undefined) {
      // On the TCP handle, close_notify and the FIN were handed to the kernel.
      socket.on("finish", NodeEngine.onFinishEvent)
      return
    }
    bio.on("error", NodeEngine.onProgressEvent)
    // Every step that can change `caughtUp`: node:tls took input
    // (listeners run after node's own), input started flowing, or ended.
    bio.on("data", NodeEngine.onProgressEvent)
    bio.on("resume", NodeEngine.onProgressEvent)
    bio.on("end", NodeEngine.onProgressEvent)
  }

  private static onFinishEvent(this: Owned): void {
    this[kEngine].onOutputEnded()
  }

  private static onSecureEvent(this: Owned): void {
    const engine = this[kEngine]
    // A second handshake on this connection: TLS 1.2 renegotiation, refused.
    if (engine.handshakes++ > 0) engine.fail(renegotiationRefused())
    else if (engine.bio !== undefined) engine.onSecure()
    // On the TCP handle node:tls emits this from inside OpenSSL's handshake
    // (its info callback), and the fibers it wakes would run there, in the
    // microtasks of that callback: a close_notify asked for then is lost
    // (OpenSSL is still "in init" and refuses it; node then ends the TCP
    // stream anyway), so a server that writes and closes at once would be
    // read as truncated. Taken on the next turn, outside OpenSSL.
    else {
      engine.securePending = true
      setImmediate(NodeEngine.secureLater, engine)
    }
  }
  /** News of plaintext waits for the next turn (see `onPlaintext`). */
  private newsDeferred = false
  private static deferredNews(engine: NodeEngine): void {
    engine.newsDeferred = false
    // Nothing to tell when a read took it all meanwhile: such news would
    // only wake a reader to find nothing (and could spend one of its retries).
    if (engine.plaintextBytes > 0) engine.noteNews()
  }
  private static secureLater(engine: NodeEngine): void {
    engine.securePending = false
    engine.onSecure()
  }
  /** The handshake completed, and the engine takes note on the next turn (see `onSecureEvent`). */
  private securePending = false
  /** Handshakes node:tls reported ('secure' / 'secureConnect'). */
  private handshakes = 0
  private static onDataEvent(this: Owned, chunk: Buffer): void {
    this[kEngine].onPlaintext(chunk)
  }
  private static onEndEvent(this: Owned): void {
    const engine = this[kEngine]
    engine.tlsEnded = true
    engine.noteNews()
  }
  private static onErrorEvent(this: Owned, e: unknown): void {
    this[kEngine].fail(e)
  }
  private static onCloseEvent(this: Owned): void {
    const engine = this[kEngine]
    engine.closed = true
    engine.noteNews()
  }
  private static onDrainEvent(this: Owned): void {
    const engine = this[kEngine]
    engine.bump()
    engine.outputListener?.()
  }
  private static onProgressEvent(this: Owned): void {
    this[kEngine].bump()
  }

  /** The Duplex's write side: node:tls wrote ciphertext. */
  onCiphertext(chunk: Buffer, callback: (error?: Error | null) => void): void {
    this.written += chunk.length
    this.outgoing.push(chunk)
    this.outgoingBytes += chunk.length
    this.bump()
    if (this.outgoingBytes === chunk.length) this.output.signal()
    if (this.outgoingBytes > OUTGOING_BOUND) this.heldCallbacks.push(callback)
    else callback()
    this.outputListener?.()
  }

  /** The Duplex's write side ended: node:tls will write nothing more. */
  onOutputEnded(): void {
    this.outputEnded = true
    this.bump()
  }

  /**
   * Whether node:tls has processed every byte fed so far, so that what it
   * reports (plaintext, handshake done, close_notify, a failure) is final
   * until more input comes. Exact, from node's own stream state (Node):
   *
   * - input fed sits in the Duplex until the TLSSocket's stream wrapper
   *   takes it, which it does synchronously once the Duplex is flowing;
   *   before the first read starts (or while the TLSSocket is paused) it
   *   waits, and 'resume' / 'data' say when it moves on;
   * - decrypted data is emitted synchronously unless the TLSSocket buffers
   *   it (`readableLength`), an end (close_notify) is emitted on the next
   *   tick (`_readableState.ended` before 'end'), and so is a failure
   *   (`destroyed` before 'close');
   * - after end of input: until node:tls reacted to it ('end', a failure,
   *   or 'close').
   */
  private caughtUp(): boolean {
    if (this.securePending) return false
    const socket = this.socket
    if (socket.destroyed) return this.closed || this.failure !== undefined
    const readable = (socket as unknown as { _readableState?: { ended?: boolean } })._readableState
    if (readable?.ended === true && !this.tlsEnded) return false
    if (!this.paused && socket.readableLength > 0) return false
    // On the TCP handle node:tls reads by itself: what it reported is all there is.
    if (this.bio === undefined) return true
    if (this.eofPushed) return this.bio.readableEnded && (this.tlsEnded || this.failure !== undefined)
    if (this.paused) return true
    return this.bio.readableFlowing === true && this.bio.readableLength === 0
  }

  /** node:tls may still report something about input already fed. */
  private mustWait(): boolean {
    return !this.caughtUp()
  }

  private bump() {
    this.progress.signal()
  }

  private fail(e: unknown) {
    if (this.failure === undefined) {
      const phase: Phase = this.secure ? "read" : "handshake"
      let protocol: string | null = null
      try {
        protocol = this.socket.getProtocol()
      } catch {
        // no session yet
      }
      const native = this.bio === undefined
      this.failure = fromTlsError(e, {
        host: this.host,
        // On the TCP handle, node:tls reports a FIN during the handshake as a
        // reset, after its 'end'.
        inputEnded: this.eofPushed || (native && this.tlsEnded),
        phase,
        protocol,
        // On the TCP handle the ciphertext is not seen. A record that is not
        // TLS at all fails only the first flight (later records are
        // encrypted, or fail otherwise), and OpenSSL sends no alert for it.
        wroteAfterInput: native ? this.secure : this.written > this.writtenAtFeed
      })
    }
    this.noteNews()
    // Writability changed: the driver's listener hears of it.
    this.outputListener?.()
  }

  private onSecure() {
    if (this.role === "server" && this.verifyClient) {
      const verifyError = (this.socket as unknown as { ssl?: { verifyError?: () => unknown } }).ssl?.verifyError?.()
      if (verifyError) {
        const code = errorCode(verifyError) ?? "CERT_REJECTED"
        this.failure ??= new TlsCertificateError({ code, host: this.host, cause: verifyError })
        this.socket.destroy()
        this.noteNews()
        return
      }
    }
    this.secure = true
    this.noteNews()
  }

  /** Called whenever ciphertext was produced (the driver flushes in that step). */
  private outputListener: (() => void) | undefined = undefined

  onOutput(listener: () => void): void {
    this.outputListener = listener
  }

  private onPlaintext(chunk: Buffer) {
    this.plaintext.push(chunk)
    this.plaintextBytes += chunk.length
    // On the TCP handle node:tls emits each record of one TCP read in a
    // callback of its own, and a waiting reader would wake (and wait again)
    // once per record. A full record says more are likely on their way:
    // the reader is told once this read's records are all in, on the next
    // turn of the event loop. A short one (the end of a message) is told now.
    if (this.bio === undefined && chunk.length >= FULL_RECORD) {
      if (!this.newsDeferred) {
        this.newsDeferred = true
        setImmediate(NodeEngine.deferredNews, this)
      }
      this.bump()
    } else this.noteNews()
    if (this.plaintextBytes > PLAINTEXT_BOUND && !this.paused) {
      this.paused = true
      this.socket.pause()
    }
  }

  /** Completes once node:tls caught up with its input (see `caughtUp`). */
  #caughtUpEvent: Effect.Effect<void> | undefined = undefined
  private get caughtUpEvent(): Effect.Effect<void> {
    return this.#caughtUpEvent ??= this.progress.until(() => this.caughtUp())
  }

  /** Re-run `op` once node:tls has caught up. */
  private afterCatchingUp<A, E>(op: () => Effect.Effect<A, E>): Effect.Effect<A, E> {
    return Effect.zipRight(this.caughtUpEvent, Effect.suspend(op))
  }

  /** Hand end-of-input to node:tls, remembering whether close_notify came first. */
  private pushEof() {
    this.eofPushed = true
    this.closeNotifyReceived = this.tlsEnded
    this.bio?.push(null)
    this.bump()
  }

  feed(ciphertext: Uint8Array): void {
    if (this.destroyed || this.eofPushed || ciphertext.length === 0 || this.bio === undefined) return
    this.writtenAtFeed = this.written
    this.bio.push(
      Buffer.isBuffer(ciphertext)
        ? ciphertext
        : Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength)
    )
    this.bump()
  }

  feedEnd(): void {
    this.inputEnded = true
  }

  drain(): ReadonlyArray<Uint8Array> {
    const out = this.outgoing
    this.outgoing = []
    this.outgoingBytes = 0
    const held = this.heldCallbacks.splice(0)
    for (const callback of held) callback()
    this.bump()
    return out
  }

  pendingOutgoing(): number {
    return this.outgoingBytes
  }

  #outgoingReady: Effect.Effect<void> | undefined = undefined
  get outgoingReady(): Effect.Effect<void> {
    return this.#outgoingReady ??= this.output.until(() => this.outgoingBytes > 0)
  }

  /** Plaintext queued in node:tls plus ciphertext waiting to be drained. */
  private pendingWrites(): number {
    return this.outgoingBytes + this.socket.writableLength + this.coalesced
  }

  /**
   * Small writes are copied into one buffer (the copy node:tls needs
   * anyway) and handed to node:tls together, once the caller's fiber has
   * run on (a microtask), when a write does not fit, or before anything
   * else is written: one record instead of one per write.
   */
  private coalesce: Buffer | undefined = undefined
  private coalesced = 0
  private handOverQueued = false

  /** `handOver` as a task for queueMicrotask, made the first time small writes are coalesced. */
  #handOverTask: (() => void) | undefined = undefined

  private handOver(): void {
    this.handOverQueued = false
    const buffer = this.coalesce
    if (this.coalesced === 0 || buffer === undefined) return
    const bytes = buffer.subarray(0, this.coalesced)
    this.coalesce = undefined
    this.coalesced = 0
    if (this.destroyed || this.failure !== undefined) return
    // Either way (taken in the call, or copied) the buffer is free for another batch.
    this.writeKeepingNothing(bytes)
    if (spareBuffers.length < SPARE_BUFFERS) spareBuffers.push(buffer)
  }

  /**
   * Write `bytes` to node:tls, which keeps no reference to them once this
   * returns. node:tls encrypts a write in the call itself (its TLSWrap hands
   * the bytes to OpenSSL, or copies what OpenSSL cannot take yet) unless the
   * stream queues it behind a write in progress: only then would it keep
   * the buffer, and only then is it given a copy. (Node's node:tls; Bun's is
   * another implementation, so there it is always a copy.)
   */
  private writeKeepingNothing(bytes: Uint8Array): void {
    const socket = this.socket
    const takenInTheCall = SYNCHRONOUS_TLS_WRITE && socket.writableLength === 0 && socket.writableCorked === 0
    socket.write(
      takenInTheCall
        ? (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
        : Buffer.from(bytes)
    )
    this.bump()
  }

  /** Take `plaintext` (copied): coalesced when small, else handed to node:tls after what is coalesced. */
  private take(plaintext: Uint8Array): void {
    if (plaintext.length < COALESCE_BYTES) {
      if (this.coalesced + plaintext.length > COALESCE_BYTES) this.handOver()
      this.coalesce ??= spareBuffers.pop() ?? Buffer.allocUnsafe(COALESCE_BYTES)
      this.coalesce.set(plaintext, this.coalesced)
      this.coalesced += plaintext.length
      if (!this.handOverQueued) {
        this.handOverQueued = true
        queueMicrotask(this.#handOverTask ??= () => this.handOver())
      }
      return
    }
    this.handOver()
    this.writeKeepingNothing(plaintext)
  }

  /**
   * After TlsWantWrite: writable again once what waits fell to half the
   * bound (not just under it), so that a stream of small writes goes on
   * for a while instead of answering a Want at every write.
   */
  canWrite(): boolean {
    const room = this.bio === undefined ? !this.socket.writableNeedDrain : this.pendingWrites() <= OUTGOING_BOUND / 2
    return room || this.failure !== undefined || this.destroyed || this.socket.destroyed
  }

  #writable: Effect.Effect<void> | undefined = undefined
  get writable(): Effect.Effect<void> {
    return this.#writable ??= this.progress.until(() => this.canWrite())
  }

  #handshake: Effect.Effect<void, TlsWantRead | TlsError> | undefined = undefined
  get handshake(): Effect.Effect<void, TlsWantRead | TlsError> {
    return this.#handshake ??= Effect.suspend(() => this.handshakeStep())
  }

  private handshakeStep(): Effect.Effect<void, TlsWantRead | TlsError> {
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.secure) return Effect.void
    if (this.mustWait()) return this.afterCatchingUp(() => this.handshake)
    if (this.tlsEnded || this.closed) return Effect.fail(new TlsUnexpectedEof({ phase: "handshake" }))
    if (this.inputEnded) {
      if (!this.eofPushed) {
        this.pushEof()
        return this.afterCatchingUp(() => this.handshake)
      }
      return Effect.fail(this.failure ?? new TlsUnexpectedEof({ phase: "handshake" }))
    }
    this.news.wanted()
    return Effect.fail(want.read.handshake)
  }

  #read: Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> | undefined = undefined
  get read(): Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> {
    return this.#read ??= Effect.suspend(() => this.readStep())
  }

  private readStep(): Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> {
    // Plaintext, or nothing to do but wait for input: as `immediate` says.
    const answer = this.tryRead()
    if (answer instanceof Uint8Array) return Effect.succeed(Option.some(answer))
    if (answer === "wantRead") return Effect.fail(want.read.read) // (`tryRead` noted the Want)
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.mustWait()) return this.afterCatchingUp(() => this.read)
    if (this.tlsEnded && this.eofPushed && !this.closeNotifyReceived) {
      return Effect.fail(new TlsUnexpectedEof({ phase: "read" }))
    }
    if (this.tlsEnded) return Effect.succeed(Option.none())
    // Closed without an end (only on the TCP handle): the stream was cut.
    if (this.closed) return Effect.fail(new TlsUnexpectedEof({ phase: "read" }))
    if (this.inputEnded) {
      if (!this.eofPushed) {
        this.pushEof()
        return this.afterCatchingUp(() => this.read)
      }
      return Effect.fail(new TlsUnexpectedEof({ phase: "read" }))
    }
    this.news.wanted()
    return Effect.fail(want.read.read)
  }

  /** The oldest piece of plaintext, as node:tls produced it (no copy). */
  private takePlaintext(): Uint8Array {
    const chunk = this.plaintext.shift()!
    this.plaintextBytes -= chunk.length
    if (this.paused && this.plaintextBytes <= PLAINTEXT_BOUND / 2) {
      this.paused = false
      this.socket.resume()
      this.bump()
    }
    return chunk
  }

  readonly immediate: EngineImmediate = new Immediate(this)

  /** The common answers of `read` (which asks here first). */
  tryRead(): Uint8Array | "wantRead" | undefined {
    if (this.plaintextBytes > 0) return this.takePlaintext()
    if (this.failure !== undefined || this.mustWait() || this.tlsEnded || this.inputEnded || this.closed) return undefined
    this.news.wanted()
    return "wantRead"
  }

  /**
   * Whole or nothing: a write that fits under the bound is taken whole,
   * as `write` would take it; a larger one is left to `write`.
   */
  tryWrite(plaintext: Uint8Array): boolean {
    if (this.failure !== undefined || this.shutdownStarted || this.destroyed) return false
    if (this.bio === undefined ? !this.nativeAccepts(plaintext) : this.pendingWrites() + plaintext.length > OUTGOING_BOUND) {
      return false
    }
    this.take(plaintext)
    return true
  }

  /**
   * On the TCP handle, node's own backpressure bounds the writes: a write
   * is taken whole while the socket does not ask for a drain (as an
   * application writes to a TLSSocket), so each reaches node:tls alone as
   * it comes; small writes are also coalesced into records while at most
   * NATIVE_SLACK bytes wait. (Over the Duplex the bound is OUTGOING_BOUND
   * instead: there node:tls takes one write per event-loop turn.)
   */
  private nativeAccepts(plaintext: Uint8Array): boolean {
    const socket = this.socket
    if (!socket.writableNeedDrain) return true
    // Small writes go on into records while a few are queued (NATIVE_SLACK).
    return plaintext.length < COALESCE_BYTES &&
      socket.writableLength + this.coalesced + plaintext.length <= NATIVE_SLACK
  }

  write(plaintext: Uint8Array): Effect.Effect<number, TlsWantWrite | TlsError> {
    return Effect.suspend((): Effect.Effect<number, TlsWantWrite | TlsError> => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.shutdownStarted || this.destroyed) return Effect.fail(new TlsClosedError({ operation: "write" }))
      if (plaintext.length === 0) return Effect.succeed(0)
      if (this.bio === undefined) {
        if (!this.nativeAccepts(plaintext)) return Effect.fail(want.write.write)
        this.take(plaintext)
        return Effect.succeed(plaintext.length)
      }
      const pending = this.pendingWrites()
      // Over the bound, ciphertext waits to be drained, or node:tls is still
      // encrypting what it was given and will produce ciphertext: either
      // way only the driver's flushing makes room, and `writable` says when.
      if (pending >= OUTGOING_BOUND) return Effect.fail(want.write.write)
      const n = Math.min(plaintext.length, Math.max(OUTGOING_BOUND - pending, MIN_ACCEPT))
      this.take(plaintext.subarray(0, n))
      return Effect.succeed(n)
    })
  }

  /**
   * `end()` on the TLSSocket writes close_notify and then ends the Duplex.
   * Done once the Duplex was ended with nothing held back: the TLSSocket's
   * own 'finish' is not enough, since Bun emits it while ciphertext (the
   * close_notify among it) still waits behind a held write.
   */
  #shutdown: Effect.Effect<void, TlsWantWrite | TlsError> | undefined = undefined
  get shutdown(): Effect.Effect<void, TlsWantWrite | TlsError> {
    return this.#shutdown ??= Effect.suspend(() => {
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (!this.shutdownStarted) {
        this.shutdownStarted = true
        this.handOver()
        this.socket.end()
        this.bump()
      }
      // node:tls is held on the outgoing bound: only a drain lets it go on.
      if (this.heldCallbacks.length > 0) return Effect.fail(want.write.shutdown)
      if (this.outputEnded || this.socket.destroyed) return Effect.void
      return Effect.zipRight(this.outputDone, this.shutdown)
    })
  }

  /** Completes when node:tls ended the Duplex, is held on the bound, or died. */
  #outputDone: Effect.Effect<void> | undefined = undefined
  private get outputDone(): Effect.Effect<void> {
    return this.#outputDone ??= this.progress.until(() =>
      this.outputEnded || this.heldCallbacks.length > 0 || this.socket.destroyed || this.failure !== undefined
    )
  }

  #info: Effect.Effect<ConnectionInfo> | undefined = undefined
  get info(): Effect.Effect<ConnectionInfo> {
    return this.#info ??= Effect.sync(() => {
      const socket = this.socket
      const cipher = socket.getCipher()
      const servername = this.role === "client"
        ? (socket as unknown as { servername?: string | null }).servername
        : socket.servername
      // The certificate is captured now (the socket may be gone later) but
      // parsed and decoded only when someone looks at it. A verified client
      // already holds it, with its issuers, from the host name check.
      // node:tls checks no host name on a resumed session (and OpenSSL
      // gives no peer chain then): the chain kept with the session it is.
      const ders = this.peerChainDer ?? (socket.isSessionReused() ? this.sessionChainDer : undefined)
      const raw = ders?.[0]
      const x509 = raw === undefined ? socket.getPeerX509Certificate() : undefined
      let decoded: Option.Option<PeerCertificate> | undefined
      let chain: ReadonlyArray<PeerCertificate> | undefined
      return {
        role: this.role,
        protocol: socket.getProtocol() ?? "unknown",
        cipher: cipher?.standardName ?? cipher?.name ?? "unknown",
        alpnProtocol: typeof socket.alpnProtocol === "string" ? Option.some(socket.alpnProtocol) : Option.none(),
        servername: typeof servername === "string" && servername.length > 0 ? Option.some(servername) : Option.none(),
        authorized: this.role === "client" ? socket.authorized : this.verifyClient && this.secure,
        get peerCertificate() {
          return decoded ??= raw !== undefined
            ? Option.some(toPeerCertificate(new X509Certificate(raw)))
            : x509 === undefined
            ? Option.none()
            : Option.some(toPeerCertificate(x509))
        },
        get peerCertificateChain() {
          return chain ??= ders !== undefined
            ? ders.map((der) => toPeerCertificate(new X509Certificate(der)))
            : x509 === undefined
            ? []
            : toPeerCertificateChain(x509)
        },
        sessionReused: socket.isSessionReused()
      }
    })
  }

  /** Exported keying material; key log lines too once `logKeys` ran (the `keylog` option). */
  secrets: EngineSecrets = { exportKeyingMaterial: (length, label, context) => this.exportKeyingMaterial(length, label, context) }

  private exportKeyingMaterial(length: number, label: string, context: Uint8Array | undefined) {
    return Effect.try({
      try: () => {
        const out = this.socket.exportKeyingMaterial(
          length,
          label,
          // No context at all (node:tls takes it as optional; its types do not say so).
          context === undefined
            ? undefined as unknown as Buffer
            : Buffer.from(context.buffer, context.byteOffset, context.byteLength)
        )
        return new Uint8Array(out.buffer, out.byteOffset, out.byteLength)
      },
      catch: (e): TlsError => new TlsProtocolError({ code: errorCode(e) ?? "ERR_TLS_EXPORTER", reason: describe(e), cause: e })
    })
  }

  /**
   * Ask node:tls for the connection's NSS key log lines, kept until the
   * driver registers its listener: the TLSSocket emits 'keylog' for either
   * role once it has a listener (node:tls then enables OpenSSL's key log
   * callback; Bun's node:tls likewise).
   */
  logKeys(): void {
    const lines: Array<string> = []
    let listener: ((line: string) => void) | undefined
    this.socket.on("keylog", (line: Buffer | string) => {
      const text = (typeof line === "string" ? line : line.toString("latin1")).replace(/\r?\n$/, "")
      if (listener === undefined) lines.push(text)
      else listener(text)
    })
    this.secrets = {
      exportKeyingMaterial: this.secrets.exportKeyingMaterial,
      onKeylog: (f) => {
        listener = f
        for (const line of lines.splice(0)) f(line)
      }
    }
  }

  /** Clients: the sessions node:tls reports (see `reportSessions`). */
  onSession: ((listener: (session: EngineSession) => void) => void) | undefined = undefined

  /**
   * Report the sessions node:tls gives (its 'session' event, which turns
   * on OpenSSL's new-session callback; after the server was verified;
   * several times for TLS 1.3, as tickets arrive). The event is listened to
   * once the driver registers its listener (before the handshake), so a
   * client that keeps no sessions pays nothing for them. Session data is
   * secret: it goes nowhere else.
   */
  reportSessions(): void {
    this.onSession = (listener) => {
      this.socket.on("session", (data: Buffer) => {
        const session = engineSession(data, this.peerChainDer ?? this.sessionChainDer)
        if (session !== undefined) listener(session)
      })
    }
  }

  /** On the native path: the transport that carries no bytes, only news (core's `NativeNews`). */
  activity(): Transport {
    const socket = this.socket
    return this.news.transport({
      isClosed: () => this.destroyed || this.closed,
      end: this.outputFinished,
      close: this.destroy,
      remoteAddress: socket.remoteAddress === undefined ? undefined : `${socket.remoteAddress}:${socket.remotePort}`
    })
  }

  /** Completes once close_notify and the FIN left (native path), or the socket is gone. */
  #outputFinished: Effect.Effect<void> | undefined = undefined
  get outputFinished(): Effect.Effect<void> {
    return this.#outputFinished ??= this.progress.until(() => this.outputEnded || this.socket.destroyed)
  }

  #destroy: Effect.Effect<void> | undefined = undefined
  get destroy(): Effect.Effect<void> {
    return this.#destroy ??= Effect.sync(() => {
      if (this.destroyed) return
      this.destroyed = true
      const held = this.heldCallbacks.splice(0)
      this.socket.destroy()
      this.bio?.destroy()
      for (const callback of held) callback()
      this.progress.signal()
    })
  }
}

/** Where a node engine factory keeps its native constructor (runtime-internal). */
const kNative = Symbol("effect-tls/NodeEngineFactory/native")

/** A factory of this module: its engines, and the same engines on a TCP socket's handle. */
interface NodeFactory extends TlsEngineFactory {
  readonly [kNative]: (tcp: Socket, peer: EngineParameters) => NodeEngine
}

/**
 * The native path on Node: node:tls takes over the TCP socket of one of
 * `NodeTransport`'s transports and runs on its handle, with the secure
 * context of a factory of this module. What core already read (a
 * ClientHello) is put back in front of the socket's input, where the
 * TLSSocket finds it. `None` for any other transport or factory.
 * @internal
 */
export const adopt = (
  detach: (transport: Transport) => Socket | undefined
) =>
(
  transport: Transport,
  factory: TlsEngineFactory,
  parameters: AdoptParameters
): Option.Option<Effect.Effect<NativeConnection, TlsError, Scope.Scope>> => {
  const native = (factory as Partial<NodeFactory>)[kNative]
  if (native === undefined) return Option.none()
  return Option.map(Option.fromNullable(detach(transport)), (tcp) =>
    Effect.map(
      ownedByScope(() => {
        if (parameters.received.length > 0) {
          const r = parameters.received
          tcp.unshift(Buffer.isBuffer(r) ? r : Buffer.from(r.buffer, r.byteOffset, r.byteLength))
        }
        return native(tcp, parameters)
      }, (engine) => engine.destroy),
      (engine) => ({ engine, transport: engine.activity() })
    ))
}

/** `"O=effect-tls\nCN=localhost"` as `{ O: "effect-tls", CN: "localhost" }`. */
const fields = (name: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const line of name.split("\n")) {
    const i = line.indexOf("=")
    if (i <= 0) continue
    const key = line.slice(0, i)
    const value = line.slice(i + 1)
    out[key] = out[key] === undefined ? value : `${out[key]}, ${value}`
  }
  return out
}

/** @internal */
export const toPeerCertificate = (cert: X509Certificate): PeerCertificate => ({
  subject: fields(cert.subject),
  issuer: fields(cert.issuer),
  subjectAltName: typeof cert.subjectAltName === "string" ? Option.some(cert.subjectAltName) : Option.none(),
  serialNumber: cert.serialNumber,
  validFrom: new Date(cert.validFrom),
  validTo: new Date(cert.validTo),
  fingerprint256: cert.fingerprint256,
  raw: new Uint8Array(cert.raw.buffer, cert.raw.byteOffset, cert.raw.byteLength)
})

/**
 * A chain from its leaf, following each certificate's issuer (leaf first);
 * it ends at a certificate without a known issuer, or at a self-signed root
 * (whose issuer is itself).
 * @internal
 */
export const toPeerCertificateChain = (leaf: X509Certificate): Array<PeerCertificate> =>
  issuerChain(leaf, (c) => c.issuerCertificate, (c) => c.fingerprint256).map(toPeerCertificate)

/** The DER of each certificate of node:tls's detailed chain (`getPeerCertificate(true)`), leaf first. */
const detailedChainDer = (leaf: tls.DetailedPeerCertificate): Array<Buffer> =>
  issuerChain(leaf, (c) => (c.issuerCertificate?.raw === undefined ? undefined : c.issuerCertificate), (c) => c.fingerprint256)
    .map((c) => c.raw)

/** `leaf`, then its issuer, and so on: until none is known, or one comes again (a root issues itself). */
const issuerChain = <C>(leaf: C, issuer: (c: C) => C | undefined, id: (c: C) => string): Array<C> => {
  const chain: Array<C> = []
  const seen = new Set<string>()
  for (let c: C | undefined = leaf; c !== undefined && !seen.has(id(c)); c = issuer(c)) {
    seen.add(id(c))
    chain.push(c)
  }
  return chain
}

/** Certificates already parsed successfully (public data only), bounded. */
const parsedCertificates = new Set<string>()

const parseCertificate = (option: string, pem: string) => {
  if (parsedCertificates.has(pem)) return
  try {
    new X509Certificate(pem)
  } catch (e) {
    throw new TlsConfigError({ option, reason: "not a valid X.509 certificate", cause: e })
  }
  if (parsedCertificates.size >= 1024) parsedCertificates.clear()
  parsedCertificates.add(pem)
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e)).replace(/\s+/g, " ").slice(0, 200)

/** Which option made node:tls refuse the context: rebuild it part by part. */
const diagnose = (base: tls.SecureContextOptions, options: ResolvedCommon, cause: unknown): TlsConfigError => {
  const attempt = (o: tls.SecureContextOptions) => {
    try {
      tls.createSecureContext(o)
      return undefined
    } catch (e) {
      return e
    }
  }
  const cipherError = attempt(base)
  if (cipherError !== undefined) return new TlsConfigError({ option: "ciphers", reason: describe(cipherError), cause: cipherError })
  if (options.ca !== undefined) {
    const caError = attempt({ ...base, ca: [...options.ca] })
    if (caError !== undefined) return new TlsConfigError({ option: "ca", reason: describe(caError), cause: caError })
  }
  if (options.crl !== undefined) {
    const crlError = attempt({ ...base, crl: [...options.crl] })
    if (crlError !== undefined) return new TlsConfigError({ option: "crl", reason: describe(crlError), cause: crlError })
  }
  // OpenSSL's messages name routines and reasons, never key material.
  const text = describe(cause)
  return new TlsConfigError({ option: /key/i.test(text) ? "key" : "cert", reason: text, cause })
}

/**
 * Build the node:tls secure context for `options`. When node:tls refuses,
 * the parts are tried one by one so that the error names the option at
 * fault; certificates are parsed first because OpenSSL skips a CA it
 * cannot parse without a word.
 * @internal
 */
export const secureContext = (options: ResolvedCommon): Effect.Effect<tls.SecureContext, TlsConfigError> =>
  Effect.try({
    try: () => {
      options.ca?.forEach((pem, i) => parseCertificate(options.ca!.length === 1 ? "ca" : `ca[${i}]`, pem))
      options.certChain?.forEach((pem, i) => parseCertificate(i === 0 ? "cert" : `cert[${i}]`, pem))
      const base: tls.SecureContextOptions = { minVersion: options.minVersion, maxVersion: options.maxVersion }
      // TLS 1.2 renegotiation is refused by OpenSSL itself (a server's
      // HelloRequest gets the no_renegotiation warning; the connection goes
      // on). Servers also break the connection (disableRenegotiation).
      if (NO_RENEGOTIATION !== undefined) base.secureOptions = NO_RENEGOTIATION
      if (options.ciphers !== undefined) base.ciphers = options.ciphers
      const full: tls.SecureContextOptions = { ...base }
      if (options.ca !== undefined) full.ca = [...options.ca]
      if (options.crl !== undefined) full.crl = [...options.crl]
      if (options.certChain !== undefined && options.key !== undefined) {
        full.cert = options.certChain.join("\n")
        full.key = Redacted.value(options.key)
      }
      let context: tls.SecureContext
      try {
        context = tls.createSecureContext(full)
      } catch (e) {
        throw diagnose(base, options, e)
      }
      const ticketKey = (options as Partial<ResolvedServer>).ticketKey
      if (ticketKey !== undefined) setTicketKey(context, Redacted.value(ticketKey))
      return context
    },
    catch: (e) =>
      e instanceof TlsConfigError ? e : new TlsConfigError({ option: "options", reason: "rejected by node:tls", cause: e })
  })

/**
 * Give a server context its one ticket key (48 bytes). Bun's node:tls has
 * no `setTicketKeys` on its contexts and ignores the `ticketKeys` option
 * (oven-sh/bun#14604): there this is `TlsConfigError`, not a silent no-op.
 */
const setTicketKey = (context: tls.SecureContext, key: Uint8Array) => {
  const native = (context as { context?: { setTicketKeys?: (keys: Buffer) => void } }).context
  if (typeof native?.setTicketKeys !== "function") {
    throw new TlsConfigError({
      option: "ticketKeys",
      reason: "this runtime's node:tls cannot set session ticket keys (Bun: oven-sh/bun#14604)"
    })
  }
  native.setTicketKeys(Buffer.from(key.buffer, key.byteOffset, key.byteLength))
}

/** What a refused TLS 1.2 renegotiation fails with (node's own code for it). */
const renegotiationRefused = () =>
  Object.assign(new Error("TLS session renegotiation disabled for this socket"), {
    code: "ERR_TLS_RENEGOTIATION_DISABLED"
  })

/**
 * node:tls's host-name check, after core's rule (`ServerName.identityRefusal`):
 * a certificate without a DNS or IP subjectAltName is refused, where
 * node:tls would fall back to its subject CN.
 */
const checkServerIdentity = (host: string, cert: tls.PeerCertificate): Error | undefined => {
  const refusal = ServerName.identityRefusal(host, cert.subjectaltname)
  if (Option.isSome(refusal)) {
    return Object.assign(new Error(`Host: ${host}. is not in the cert's altnames: ${refusal.value}`), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
      reason: refusal.value,
      host
    })
  }
  return tls.checkServerIdentity(host, cert)
}

/**
 * What a session's encoding says (OpenSSL's and BoringSSL's `SSL_SESSION`
 * in DER, after node:tls's own header where it adds one: a SEQUENCE of version, protocol version, cipher, session id,
 * master key, then `[1] time`, `[2] timeout`, ... `[9]` the ticket lifetime
 * hint, `[10] ticket`): whether it is TLS 1.3, its lifetime (the shorter of
 * the timeout and the hint), and whether it holds a ticket. An encoding it
 * cannot read says none of these.
 * @internal
 */
export const sessionFacts = (
  der: Uint8Array
): { readonly tls13: boolean; readonly lifetimeSeconds: number | undefined; readonly ticket: boolean } => {
  let offset = 0
  /** One TLV: its tag, and where its contents start and end. */
  const next = (end: number) => {
    if (offset + 2 > end) return undefined
    const tag = der[offset]!
    let length = der[offset + 1]!
    let start = offset + 2
    if (length & 0x80) {
      const bytes = length & 0x7f
      if (bytes === 0 || bytes > 3 || start + bytes > end) return undefined
      length = 0
      for (let i = 0; i < bytes; i++) length = length * 256 + der[start + i]!
      start += bytes
    }
    if (start + length > end) return undefined
    offset = start + length
    return { tag, start, end: start + length }
  }
  const integer = (start: number, end: number) => {
    if (end - start < 1 || end - start > 6) return undefined
    let n = 0
    for (let i = start; i < end; i++) n = n * 256 + der[i]!
    return n
  }
  // Newer node:tls (Node 24) puts a header of its own before the DER
  // ("nodejs:tls:session:1" and the server name): the DER is the SEQUENCE
  // that runs to the end.
  let sequence: ReturnType<typeof next>
  for (let start = 0; start < Math.min(der.length, 1024); start++) {
    if (der[start] !== 0x30) continue
    offset = start
    const candidate = next(der.length)
    if (candidate !== undefined && candidate.end === der.length) {
      sequence = candidate
      break
    }
  }
  if (sequence === undefined) return { tls13: false, lifetimeSeconds: undefined, ticket: false }
  offset = sequence.start
  let tls13 = false
  let lifetimeSeconds: number | undefined
  let ticket = false
  for (let index = 0; offset < sequence.end; index++) {
    const field = next(sequence.end)
    if (field === undefined) break
    if (index === 1 && field.tag === 0x02) tls13 = integer(field.start, field.end) === 0x0304
    // [2] the session's timeout, [9] the server's ticket lifetime hint: the shorter one that is set.
    if (field.tag === 0xa2 || field.tag === 0xa9) {
      const saved = offset
      offset = field.start
      const inner = next(field.end)
      const seconds = inner !== undefined && inner.tag === 0x02 ? integer(inner.start, inner.end) : undefined
      if (seconds !== undefined && seconds > 0) {
        lifetimeSeconds = lifetimeSeconds === undefined ? seconds : Math.min(lifetimeSeconds, seconds)
      }
      offset = saved
    }
    if (field.tag === 0xaa) ticket = true
  }
  return { tls13, lifetimeSeconds, ticket }
}

/**
 * A session as core's `EngineSession`; none for a TLS 1.3 session without
 * a ticket (what a client holds before any ticket came: it cannot resume).
 * @internal
 */
export const engineSession = (
  data: Uint8Array,
  peerChain?: ReadonlyArray<Uint8Array> | undefined
): EngineSession | undefined => {
  const facts = sessionFacts(data)
  if (facts.tls13 && !facts.ticket) return undefined
  return {
    data: peerChain === undefined || peerChain.length === 0
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
      : sealSession(data, peerChain),
    lifetimeSeconds: facts.lifetimeSeconds !== undefined && facts.lifetimeSeconds > 0 ? facts.lifetimeSeconds : undefined,
    singleUse: facts.tls13
  }
}

/** What starts a session kept with the server's chain: "ETLS" and a version byte. */
const SEALED = [0x45, 0x54, 0x4c, 0x53, 0x01]

/**
 * A session and the server's chain as it was verified, in one buffer:
 * `SEALED`, then length-prefixed (u32) pieces, the session first. A
 * resumed connection reports the chain from here (node:tls and Bun give
 * none on resumption).
 * @internal
 */
export const sealSession = (session: Uint8Array, chain: ReadonlyArray<Uint8Array>): Uint8Array => {
  const pieces = [session, ...chain]
  const out = new Uint8Array(SEALED.length + pieces.reduce((n, p) => n + 4 + p.length, 0))
  out.set(SEALED, 0)
  let offset = SEALED.length
  for (const piece of pieces) {
    new DataView(out.buffer).setUint32(offset, piece.length)
    out.set(piece, offset + 4)
    offset += 4 + piece.length
  }
  return out
}

/**
 * The session and the chain of `sealSession`'s output; anything else is
 * taken as a session on its own.
 * @internal
 */
export const openSession = (data: Uint8Array): { readonly session: Buffer; readonly chain: Array<Buffer> } => {
  const whole = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (data.length < SEALED.length || SEALED.some((b, i) => data[i] !== b)) return { session: whole, chain: [] }
  const pieces: Array<Buffer> = []
  let offset = SEALED.length
  while (offset + 4 <= whole.length) {
    const length = whole.readUInt32BE(offset)
    if (offset + 4 + length > whole.length) return { session: whole, chain: [] }
    pieces.push(whole.subarray(offset + 4, offset + 4 + length))
    offset += 4 + length
  }
  if (offset !== whole.length || pieces.length === 0) return { session: whole, chain: [] }
  return { session: pieces[0]!, chain: pieces.slice(1) }
}

/** @internal */
export const clientEngines = (options: ResolvedClient): Effect.Effect<TlsEngineFactory, TlsConfigError> =>
  Effect.map(secureContext(options), (context): NodeFactory => {
    const engine = (tcp: Socket | undefined, session: Uint8Array | undefined) => {
        const connect = (under: Duplex, engine: NodeEngine) => {
          let checked = false
          const connectOptions: tls.ConnectionOptions = {
            socket: under,
            secureContext: context,
            rejectUnauthorized: options.verify,
            // node:tls would check `servername` or fall back to "localhost";
            // the decoded options know the name (or IP) to verify. node:tls
            // checks again after a renegotiation, which is refused.
            checkServerIdentity: (_host, cert) => {
              if (checked) return renegotiationRefused()
              checked = true
              // node:tls passes the detailed certificate here (issuers linked).
              engine.peerChainDer = detailedChainDer(cert as tls.DetailedPeerCertificate)
              return checkServerIdentity(options.verifyHost, cert)
            }
          }
          if (options.sni !== undefined) connectOptions.servername = options.sni
          if (options.alpnProtocols.length > 0) connectOptions.ALPNProtocols = [...options.alpnProtocols]
          // A session node:tls cannot decode is ignored (a full handshake).
          if (session !== undefined) {
            const opened = openSession(session)
            connectOptions.session = opened.session
            if (opened.chain.length > 0) engine.sessionChainDer = opened.chain
          }
          return tls.connect(connectOptions)
        }
        const made = new NodeEngine("client", options.verifyHost, connect, false, tcp)
        if (options.keylog !== undefined) made.logKeys()
        made.reportSessions()
        return made
    }
    return {
      make: (peer) => Effect.sync(() => engine(undefined, peer.session)),
      [kNative]: (tcp, peer) => engine(tcp, peer.session)
    }
  })

/** @internal */
export const serverEngines = (options: ResolvedServer): Effect.Effect<TlsEngineFactory, TlsConfigError> =>
  Effect.map(secureContext(options), (context): NodeFactory => {
    const engine = (peer: EngineParameters, tcp: Socket | undefined) => {
        const accept = (under: Duplex) => {
          const socketOptions: tls.TLSSocketOptions = {
            isServer: true,
            secureContext: context,
            requestCert: options.requestCert,
            rejectUnauthorized: options.requestCert
          }
          const alpn = peer.alpnProtocols ?? options.alpnProtocols
          if (alpn.length > 0) socketOptions.ALPNProtocols = [...alpn]
          const socket = new tls.TLSSocket(under as unknown as Socket, socketOptions)
          // A client's renegotiation is refused: node:tls reports it as
          // ERR_TLS_RENEGOTIATION_DISABLED (a TlsProtocolError) and the
          // connection breaks. (tls.Server only limits it, to 3 per 10
          // minutes, and a TLSSocket made on its own not even that.)
          // (Bun's node:tls may lack it; BoringSSL never renegotiates as a server.)
          if (typeof socket.disableRenegotiation === "function") socket.disableRenegotiation()
          return socket
        }
        const made = new NodeEngine("server", peer.remoteAddress ?? "unknown peer", accept, options.requestCert, tcp)
        if (options.keylog !== undefined) made.logKeys()
        return made
    }
    return { make: (peer) => Effect.sync(() => engine(peer, undefined)), [kNative]: (tcp, peer) => engine(peer, tcp) }
  })
