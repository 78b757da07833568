import { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Transport } from "@effect-tls/core/Transport"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

/** @internal */
export const protocols = ["smtp", "imap", "pop3", "ftp", "postgres"] as const

/** @internal */
export type StartTlsProtocol = typeof protocols[number]

/** @internal */
export const defaultPorts: Record<StartTlsProtocol, number> = {
  smtp: 25,
  imap: 143,
  pop3: 110,
  ftp: 21,
  postgres: 5432
}

/**
 * The server did not agree to start TLS: `reply` is the line it answered
 * with (or what was missing).
 *
 * @internal
 */
export class StartTlsError extends Data.TaggedError("StartTlsError")<{
  readonly protocol: StartTlsProtocol
  readonly reply: string
}> {
  override get message(): string {
    return `${this.protocol} STARTTLS refused: ${this.reply}`
  }
}

const MAX_REPLY = 64 * 1024

/**
 * Reads lines (and single bytes) from a transport, keeping what it read
 * past them, so the TLS handshake can start on the bytes that follow.
 */
class Reader {
  private buffered = new Uint8Array(0)
  constructor(readonly transport: Transport, readonly protocol: StartTlsProtocol) {}

  private fill = Effect.flatMap(Effect.suspend(() => this.transport.read), (chunk) =>
    Option.match(chunk, {
      onNone: () => Effect.fail(new StartTlsError({ protocol: this.protocol, reply: "the server closed the connection" })),
      onSome: (bytes) =>
        Effect.sync(() => {
          const next = new Uint8Array(this.buffered.length + bytes.length)
          next.set(this.buffered)
          next.set(bytes, this.buffered.length)
          this.buffered = next
        })
    }))

  readonly line: Effect.Effect<string, StartTlsError | TlsTransportError> = Effect.suspend(() => {
    const end = this.buffered.indexOf(10)
    if (end === -1) {
      if (this.buffered.length > MAX_REPLY) {
        return Effect.fail(new StartTlsError({ protocol: this.protocol, reply: "a reply line longer than 64 KiB" }))
      }
      return Effect.zipRight(this.fill, this.line)
    }
    const text = new TextDecoder().decode(this.buffered.subarray(0, end)).replace(/\r$/, "")
    this.buffered = this.buffered.subarray(end + 1)
    return Effect.succeed(text)
  })

  readonly byte: Effect.Effect<number, StartTlsError | TlsTransportError> = Effect.suspend(() => {
    if (this.buffered.length === 0) return Effect.zipRight(this.fill, this.byte)
    const b = this.buffered[0]!
    this.buffered = this.buffered.subarray(1)
    return Effect.succeed(b)
  })

  /** The transport, with the bytes read past the last reply given back first. */
  rest(): Transport {
    if (this.buffered.length === 0) return this.transport
    let left: Uint8Array | undefined = this.buffered
    const read = Effect.suspend(() => {
      if (left === undefined) return this.transport.read
      const chunk = left
      left = undefined
      return Effect.succeed(Option.some(chunk))
    })
    return { ...this.transport, immediate: undefined, read }
  }
}

/** A reply of SMTP or FTP: lines `CODE-text` until `CODE text`. */
const multiline = (reader: Reader) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    while (true) {
      const line = yield* reader.line
      lines.push(line)
      if (!/^\d{3}-/.test(line)) return lines
    }
  })

/** A reply of SMTP or FTP whose code is `code` (else it fails with the reply); its lines. */
const coded = (reader: Reader, code: string) =>
  Effect.tap(multiline(reader), (lines) => expect(reader.protocol, lines.at(-1)!.startsWith(code), lines.join(" | ")))

const send = (transport: Transport, text: string) => transport.write(new TextEncoder().encode(text))

const expect = (protocol: StartTlsProtocol, ok: boolean, reply: string) =>
  ok ? Effect.void : Effect.fail(new StartTlsError({ protocol, reply: reply.slice(0, 200) }))

/**
 * Speak `protocol` over `transport` up to the point where TLS starts, and
 * return the transport to run TLS over.
 *
 * @internal
 */
export const negotiate = (
  transport: Transport,
  protocol: StartTlsProtocol
): Effect.Effect<Transport, StartTlsError | TlsTransportError> =>
  Effect.gen(function*() {
    const reader = new Reader(transport, protocol)
    switch (protocol) {
      case "smtp": {
        yield* coded(reader, "220")
        yield* send(transport, "EHLO effect-tls.invalid\r\n")
        const ehlo = yield* coded(reader, "250")
        yield* expect(
          protocol,
          ehlo.some((line) => /^250[- ]STARTTLS\b/i.test(line)),
          "the server does not offer STARTTLS in its EHLO reply"
        )
        yield* send(transport, "STARTTLS\r\n")
        yield* coded(reader, "220")
        break
      }
      case "imap": {
        const greeting = yield* reader.line
        yield* expect(protocol, greeting.startsWith("* OK"), greeting)
        yield* send(transport, "a1 STARTTLS\r\n")
        while (true) {
          const line = yield* reader.line
          if (line.startsWith("*")) continue
          yield* expect(protocol, line.startsWith("a1 OK"), line)
          break
        }
        break
      }
      case "pop3": {
        const greeting = yield* reader.line
        yield* expect(protocol, greeting.startsWith("+OK"), greeting)
        yield* send(transport, "STLS\r\n")
        const reply = yield* reader.line
        yield* expect(protocol, reply.startsWith("+OK"), reply)
        break
      }
      case "ftp": {
        yield* coded(reader, "220")
        yield* send(transport, "AUTH TLS\r\n")
        yield* coded(reader, "234")
        break
      }
      case "postgres": {
        // SSLRequest: length 8, then the code 80877103; the server answers one byte.
        const request = new Uint8Array(8)
        const view = new DataView(request.buffer)
        view.setInt32(0, 8)
        view.setInt32(4, 80877103)
        yield* transport.write(request)
        const answer = yield* reader.byte
        yield* expect(
          protocol,
          answer === 0x53,
          answer === 0x4e ? "the server answered N (it does not accept TLS)" : `unexpected answer byte 0x${answer.toString(16)}`
        )
        break
      }
    }
    return reader.rest()
  })
