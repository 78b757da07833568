/**
 * A toy TLS engine that talks to itself: records of
 * `[type u8][length u16 BE][payload]` with a handshake of k round trips,
 * application data, alerts and close_notify. No cryptography at all; it
 * exists so that the driver can be tested against an engine whose every
 * step is deterministic and observable.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { FramedEngineOptions, TestEngine } from "../../testing.js"
import type { TlsEngine } from "../../TlsEngine.js"
import {
  TlsAlertError,
  TlsClosedError,
  type TlsError,
  TlsProtocolError,
  TlsUnexpectedEof,
  type TlsWant,
  type TlsWantRead,
  TlsWantWrite,
  want
} from "../../TlsError.js"
import { concat } from "../bytes.js"
import { info, Outbox, Recorder } from "./observations.js"

/** Record types, as in TLS. @internal */
export const RecordType = { alert: 21, handshake: 22, data: 23 } as const

/** Alert codes of RFC 8446 section 6 that the toy engine knows by name. @internal */
export const alertCodes: Readonly<Record<string, number>> = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  handshake_failure: 40,
  protocol_version: 70,
  internal_error: 80,
  unrecognized_name: 112,
  no_application_protocol: 120
}

const alertName = (code: number): string =>
  Object.entries(alertCodes).find(([, c]) => c === code)?.[0] ?? `alert_${code}`

/** One record. @internal */
export const record = (type: number, payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(3 + payload.length)
  out[0] = type
  out[1] = payload.length >>> 8
  out[2] = payload.length & 0xff
  out.set(payload, 3)
  return out
}

const MAX_RECORD = 16_384

class FramedEngine implements TlsEngine {
  readonly recorder = new Recorder()
  private readonly outbox = new Outbox()
  private inbuf: Uint8Array = new Uint8Array(0)
  private plaintext: Array<Uint8Array> = []
  private plaintextBytes = 0
  private round = 0
  private done: boolean
  private failure: TlsError | undefined
  private inputEnded = false
  private peerClosed = false
  private sentClose = false
  private readonly rounds: number
  private readonly maxRecord: number
  private readonly maxWrite: number
  private readonly outgoingBound: number

  constructor(readonly role: "client" | "server", private readonly options: FramedEngineOptions) {
    this.rounds = options.handshakeRounds ?? 1
    this.maxRecord = Math.max(1, Math.min(options.maxRecord ?? MAX_RECORD, MAX_RECORD))
    this.maxWrite = Math.max(1, options.maxWrite ?? Number.POSITIVE_INFINITY)
    this.outgoingBound = Math.max(1, options.outgoingBound ?? 256 * 1024)
    this.done = this.rounds <= 0
  }

  private sendHandshake(round: number) {
    this.outbox.push(record(RecordType.handshake, new Uint8Array([round >>> 8, round & 0xff])))
  }

  private sendAlert(name: string) {
    this.outbox.push(record(RecordType.alert, new Uint8Array([2, alertCodes[name] ?? 80])))
  }

  private protocolError(reason: string) {
    this.failure ??= new TlsProtocolError({ code: "ERR_FRAMED_ENGINE", reason })
  }

  /** Take every complete record out of the incoming buffer. */
  private process() {
    let offset = 0
    const buf = this.inbuf
    while (this.failure === undefined && buf.length - offset >= 3) {
      const length = (buf[offset + 1]! << 8) | buf[offset + 2]!
      if (buf.length - offset < 3 + length) break
      const type = buf[offset]!
      const payload = buf.subarray(offset + 3, offset + 3 + length)
      offset += 3 + length
      this.onRecord(type, payload)
    }
    this.inbuf = offset === buf.length ? new Uint8Array(0) : buf.slice(offset)
  }

  private onRecord(type: number, payload: Uint8Array) {
    if (this.peerClosed) return
    switch (type) {
      case RecordType.handshake: {
        const r = (payload[0]! << 8) | payload[1]!
        if (this.done) return this.protocolError("handshake record after the handshake")
        if (this.role === "server") {
          if (r !== this.round + 1) return this.protocolError(`handshake round ${r}, expected ${this.round + 1}`)
          this.round = r
          if (this.options.rejectAtRound === r) {
            const alert = this.options.rejectWith ?? "handshake_failure"
            this.sendAlert(alert)
            this.failure = new TlsAlertError({ alert, direction: "sent" })
            return
          }
          this.sendHandshake(r)
          if (r === this.rounds) this.done = true
        } else {
          if (r !== this.round) return this.protocolError(`handshake round ${r}, expected ${this.round}`)
          if (r === this.rounds) this.done = true
          else {
            this.round = r + 1
            this.sendHandshake(this.round)
          }
        }
        return
      }
      case RecordType.data: {
        if (!this.done) return this.protocolError("application data before the handshake completed")
        this.plaintext.push(payload.slice())
        this.plaintextBytes += payload.length
        return
      }
      case RecordType.alert: {
        const code = payload[1] ?? 80
        if (code === 0) this.peerClosed = true
        else this.failure = new TlsAlertError({ alert: alertName(code), direction: "received" })
        return
      }
      default:
        return this.protocolError(`unknown record type ${type}`)
    }
  }

  feed = (ciphertext: Uint8Array): void => {
    this.recorder.fed(ciphertext.length)
    if (ciphertext.length === 0 || this.inputEnded) return
    this.inbuf = this.inbuf.length === 0 ? ciphertext.slice() : concat([this.inbuf, ciphertext])
    this.process()
  }

  feedEnd = (): void => {
    this.recorder.fedEnd()
    this.inputEnded = true
  }

  drain = (): ReadonlyArray<Uint8Array> => {
    this.recorder.drained()
    return this.outbox.take()
  }

  pendingOutgoing = (): number => this.outbox.bytes

  readonly outgoingReady = this.outbox.ready

  get writable(): Effect.Effect<void> {
    return this.outbox.below(this.outgoingBound)
  }

  private wantRead(op: "handshake" | "read"): Effect.Effect<never, TlsWantRead> {
    this.recorder.wantRead(op)
    return Effect.fail(want.read[op])
  }

  private wantWrite(op: "write" | "shutdown"): Effect.Effect<never, TlsWantWrite> {
    this.recorder.wantWrite(op)
    return Effect.fail(want.write[op])
  }

  readonly handshake: Effect.Effect<void, TlsWant | TlsError> = Effect.suspend((): Effect.Effect<void, TlsWant | TlsError> => {
    this.recorder.call("handshake")
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.done) return Effect.void
    if (this.role === "client" && this.round === 0) {
      this.round = 1
      this.sendHandshake(1)
    }
    if (this.inputEnded) return Effect.fail(new TlsUnexpectedEof({ phase: "handshake" }))
    return this.wantRead("handshake")
  })

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> = Effect.suspend(
    (): Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> => {
    this.recorder.call("read")
    if (this.plaintextBytes > 0) {
      const chunks = this.plaintext
      const total = this.plaintextBytes
      this.plaintext = []
      this.plaintextBytes = 0
      return Effect.succeed(Option.some(chunks.length === 1 ? chunks[0]! : concat(chunks, total)))
    }
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.peerClosed) return Effect.succeed(Option.none())
    if (this.inputEnded) return Effect.fail(new TlsUnexpectedEof({ phase: "read" }))
    return this.wantRead("read")
  })

  write = (plaintext: Uint8Array): Effect.Effect<number, TlsWantWrite | TlsError> =>
    Effect.suspend((): Effect.Effect<number, TlsWantWrite | TlsError> => {
      this.recorder.call("write")
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.sentClose || this.recorder.stats.destroyed) return Effect.fail(new TlsClosedError({ operation: "write" }))
      if (plaintext.length === 0) return Effect.succeed(0)
      if (this.outbox.bytes >= this.outgoingBound) return this.wantWrite("write")
      const n = Math.min(plaintext.length, this.maxWrite)
      for (let offset = 0; offset < n; offset += this.maxRecord) {
        this.outbox.push(record(RecordType.data, plaintext.slice(offset, Math.min(n, offset + this.maxRecord))))
      }
      return Effect.succeed(n)
    })

  readonly shutdown: Effect.Effect<void, TlsWant | TlsError> = Effect.suspend((): Effect.Effect<void, TlsWant | TlsError> => {
    this.recorder.call("shutdown")
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.sentClose) return Effect.void
    if (this.outbox.bytes >= this.outgoingBound) return this.wantWrite("shutdown")
    this.sentClose = true
    this.sendAlert("close_notify")
    return Effect.void
  })

  readonly info = Effect.sync(() => info(this.role, "framed"))

  readonly destroy = Effect.sync(() => {
    this.recorder.stats.destroyed = true
  })
}

/** @internal */
export const make = (options: FramedEngineOptions): TestEngine => {
  const engine = new FramedEngine(options.role, options)
  return { engine, stats: engine.recorder.stats }
}

/** The ciphertext a framed peer sends for `plaintext` (one record per 16 KiB). @internal */
export const encodeData = (plaintext: Uint8Array): Uint8Array => {
  const records: Array<Uint8Array> = []
  for (let offset = 0; offset < plaintext.length; offset += MAX_RECORD) {
    records.push(record(RecordType.data, plaintext.subarray(offset, Math.min(plaintext.length, offset + MAX_RECORD))))
  }
  return concat(records)
}

/** The ciphertext of an alert (`close_notify` included). @internal */
export const encodeAlert = (name: string): Uint8Array => record(RecordType.alert, new Uint8Array([2, alertCodes[name] ?? 80]))

/** The ciphertext of a server's handshake flight `round`. @internal */
export const encodeHandshake = (round: number): Uint8Array =>
  record(RecordType.handshake, new Uint8Array([round >>> 8, round & 0xff]))
