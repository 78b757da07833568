/**
 * An engine that replays a script: a handshake of k rounds (each sends a
 * flight and needs one chunk of input), then one outcome per `read`.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ScriptedEngineOptions, ScriptStep, TestEngine } from "../../testing.js"
import type { TlsEngine } from "../../TlsEngine.js"
import {
  TlsAlertError,
  TlsClosedError,
  type TlsError,
  TlsUnexpectedEof,
  type TlsWant,
  type TlsWantRead,
  type TlsWantWrite,
  want
} from "../../TlsError.js"
import { utf8Encode } from "../bytes.js"
import { info, Outbox, Recorder } from "./observations.js"

class ScriptedEngine implements TlsEngine {
  readonly recorder = new Recorder()
  private readonly outbox = new Outbox()
  /** Input chunks fed and not consumed by a `WantRead` step yet. */
  private credit = 0
  private inputEnded = false
  private round = 0
  private flightSent = false
  private readonly steps: Array<ScriptStep>
  private failure: TlsError | undefined
  private closed = false
  private sentClose = false
  private readonly outgoingBound: number

  constructor(readonly role: "client" | "server", private readonly options: ScriptedEngineOptions) {
    this.steps = [...(options.reads ?? [])]
    this.outgoingBound = Math.max(1, options.outgoingBound ?? Number.POSITIVE_INFINITY)
  }

  feed = (ciphertext: Uint8Array): void => {
    this.recorder.fed(ciphertext.length)
    if (ciphertext.length > 0 && !this.inputEnded) this.credit++
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

  /** Consume one chunk of input, or say why not. */
  private needInput(op: "handshake" | "read"): Effect.Effect<never, TlsWantRead | TlsUnexpectedEof> | undefined {
    if (this.credit > 0) {
      this.credit--
      return undefined
    }
    if (this.inputEnded) return Effect.fail(new TlsUnexpectedEof({ phase: op }))
    this.recorder.wantRead(op)
    return Effect.fail(want.read[op])
  }

  readonly handshake: Effect.Effect<void, TlsWant | TlsError> = Effect.suspend((): Effect.Effect<void, TlsWant | TlsError> => {
    this.recorder.call("handshake")
    const rounds = this.options.handshakeRounds ?? 0
    while (this.round < rounds) {
      if (!this.flightSent) {
        this.flightSent = true
        this.outbox.push(utf8Encode(`flight ${this.round + 1}\n`))
      }
      const blocked = this.needInput("handshake")
      if (blocked !== undefined) return blocked
      this.round++
      this.flightSent = false
    }
    return Effect.void
  })

  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> = Effect.suspend(
    (): Effect.Effect<Option.Option<Uint8Array>, TlsWantRead | TlsError> => {
    this.recorder.call("read")
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.closed) return Effect.succeed(Option.none())
    for (;;) {
      const step = this.steps[0]
      if (step === undefined) {
        // Past the script: whatever arrives is not enough, forever.
        this.credit = 0
        return this.needInput("read")!
      }
      switch (step._tag) {
        case "WantRead": {
          const blocked = this.needInput("read")
          if (blocked !== undefined) return blocked
          this.steps.shift()
          continue
        }
        case "Plaintext":
          this.steps.shift()
          return Effect.succeed(Option.some(step.bytes))
        case "Alert":
          this.steps.shift()
          this.failure = new TlsAlertError({ alert: step.alert, direction: "received" })
          return Effect.fail(this.failure)
        case "Close":
          this.steps.shift()
          this.closed = true
          return Effect.succeed(Option.none())
      }
    }
  })

  write = (plaintext: Uint8Array): Effect.Effect<number, TlsWantWrite | TlsError> =>
    Effect.suspend((): Effect.Effect<number, TlsWantWrite | TlsError> => {
      this.recorder.call("write")
      if (this.failure !== undefined) return Effect.fail(this.failure)
      if (this.sentClose) return Effect.fail(new TlsClosedError({ operation: "write" }))
      if (this.outbox.bytes >= this.outgoingBound) {
        this.recorder.wantWrite("write")
        return Effect.fail(want.write.write)
      }
      // Identity "encryption": the peer's transport sees the plaintext.
      this.outbox.push(plaintext.slice())
      return Effect.succeed(plaintext.length)
    })

  readonly shutdown: Effect.Effect<void, TlsWant | TlsError> = Effect.suspend((): Effect.Effect<void, TlsWant | TlsError> => {
    this.recorder.call("shutdown")
    if (this.failure !== undefined) return Effect.fail(this.failure)
    this.sentClose = true
    return Effect.void
  })

  readonly info = Effect.sync(() => info(this.role, "scripted"))

  readonly destroy = Effect.sync(() => {
    this.recorder.stats.destroyed = true
  })
}

/** @internal */
export const make = (options: ScriptedEngineOptions = {}): TestEngine => {
  const engine = new ScriptedEngine(options.role ?? "client", options)
  return { engine, stats: engine.recorder.stats }
}
