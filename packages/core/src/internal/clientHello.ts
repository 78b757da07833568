/**
 * TEMPORARY interim parser (the lead's stopgap so servers work while the
 * real parser is being written; replace wholesale).
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ClientHello, Inspection } from "../ClientHello.js"
import { TlsAlertError, type TlsError, TlsProtocolError, TlsUnexpectedEof } from "../TlsError.js"
import type { Transport } from "../Transport.js"

export const MAX_BYTES = 65536

const bad = (alert: string) => ({ _tag: "Invalid" as const, error: new TlsAlertError({ alert, direction: "sent" }) })

export const inspect = (b: Uint8Array): Inspection => {
  if (b.length > 0 && /^[A-Z]/.test(String.fromCharCode(b[0]!)) && b[0] !== 0x16) {
    return { _tag: "Invalid", error: new TlsProtocolError({ code: "ERR_SSL_HTTP_REQUEST", reason: "http" }) }
  }
  const parts: Array<Uint8Array> = []
  let off = 0
  let have = 0
  let need = -1
  while (true) {
    if (off + 5 > b.length) return b.length > MAX_BYTES ? bad("decode_error") : { _tag: "NeedMore" }
    if (b[off] !== 0x16) return bad("unexpected_message")
    const len = (b[off + 3]! << 8) | b[off + 4]!
    if (off + 5 + len > b.length) return { _tag: "NeedMore" }
    parts.push(b.subarray(off + 5, off + 5 + len))
    have += len
    off += 5 + len
    if (need < 0 && have >= 4) {
      const all = concat(parts)
      if (all[0] !== 1) return bad("unexpected_message")
      need = 4 + ((all[1]! << 16) | (all[2]! << 8) | all[3]!)
    }
    if (need >= 0 && have >= need) {
      const m = concat(parts).subarray(4, need)
      return parse(m, off)
    }
  }
}

const concat = (parts: Array<Uint8Array>) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

const parse = (m: Uint8Array, length: number): Inspection => {
  const u16 = (i: number) => (m[i]! << 8) | m[i + 1]!
  let p = 34
  p += 1 + m[p]!
  const suites: Array<number> = []
  const cs = u16(p)
  for (let i = 0; i < cs; i += 2) suites.push(u16(p + 2 + i))
  p += 2 + cs
  p += 1 + m[p]!
  let serverName = Option.none<string>()
  const alpn: Array<string> = []
  const versions: Array<number> = []
  if (p + 2 <= m.length) {
    const end = p + 2 + u16(p)
    p += 2
    while (p + 4 <= end) {
      const type = u16(p)
      const len = u16(p + 2)
      const d = m.subarray(p + 4, p + 4 + len)
      if (type === 0 && d.length >= 5) {
        const n = (d[3]! << 8) | d[4]!
        serverName = Option.some(String.fromCharCode(...d.subarray(5, 5 + n)))
      } else if (type === 16) {
        let q = 2
        while (q < d.length) {
          const n = d[q]!
          alpn.push(String.fromCharCode(...d.subarray(q + 1, q + 1 + n)))
          q += 1 + n
        }
      } else if (type === 43) {
        for (let q = 1; q + 1 < d.length; q += 2) versions.push((d[q]! << 8) | d[q + 1]!)
      }
      p += 4 + len
    }
  }
  const hello: ClientHello = {
    legacyVersion: u16(0),
    random: m.subarray(2, 34),
    sessionId: new Uint8Array(),
    cipherSuites: suites,
    compressionMethods: [],
    extensions: [],
    serverName,
    alpnProtocols: alpn,
    supportedVersions: versions,
    supportedGroups: [],
    keyShareGroups: [],
    signatureAlgorithms: []
  }
  return { _tag: "Complete", hello, length }
}

export const read = (t: Transport): Effect.Effect<{ readonly hello: ClientHello; readonly bytes: Uint8Array }, TlsError> =>
  Effect.suspend(() => {
    let buffered = new Uint8Array(0)
    const loop: Effect.Effect<{ readonly hello: ClientHello; readonly bytes: Uint8Array }, TlsError> = Effect.flatMap(
      t.read,
      (chunk) => {
        if (Option.isNone(chunk)) return Effect.fail(new TlsUnexpectedEof({ phase: "handshake" }))
        buffered = concat([buffered, chunk.value])
        const r = inspect(buffered)
        if (r._tag === "Complete") return Effect.succeed({ hello: r.hello, bytes: buffered })
        if (r._tag === "Invalid") return Effect.fail(r.error)
        return loop
      }
    )
    return loop
  })

const ALERTS: Record<string, number> = {
  unexpected_message: 10, handshake_failure: 40, illegal_parameter: 47, decode_error: 50, protocol_version: 70,
  internal_error: 80, unrecognized_name: 112, no_application_protocol: 120
}
export const alertRecord = (alert: string) => new Uint8Array([0x15, 3, 3, 0, 2, 2, ALERTS[alert] ?? 80])
