/**
 * ClientHellos on the wire, built by hand (RFC 8446 section 4.1.2), and
 * re-framed into records of any size; transports that replay chunks.
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { ClientHelloFields } from "../../testing.js"
import type { Transport } from "../../Transport.js"

export const u8 = (n: number) => [n & 0xff]
export const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff]
export const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]
export const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0))
export const vec8 = (body: ReadonlyArray<number>) => [...u8(body.length), ...body]
export const vec16 = (body: ReadonlyArray<number>) => [...u16(body.length), ...body]
export const extension = (type: number, body: ReadonlyArray<number>) => [...u16(type), ...vec16(body)]

/** The ClientHello handshake message (header included). */
export const helloMessage = (f: ClientHelloFields = {}): Uint8Array => {
  const extensions = [
    ...(f.servername === undefined ? [] : extension(0, vec16([0, ...vec16(ascii(f.servername))]))),
    ...(f.groups === undefined ? [] : extension(10, vec16(f.groups.flatMap(u16)))),
    ...(f.signatureAlgorithms === undefined ? [] : extension(13, vec16(f.signatureAlgorithms.flatMap(u16)))),
    ...(f.alpn === undefined ? [] : extension(16, vec16(f.alpn.flatMap((p) => vec8(ascii(p)))))),
    ...(f.versions === undefined ? [] : extension(43, vec8(f.versions.flatMap(u16)))),
    ...(f.keyShares === undefined
      ? []
      : extension(51, vec16(f.keyShares.flatMap((g) => [...u16(g), ...vec16(new Array<number>(32).fill(g & 0xff))])))),
    ...(f.padding === undefined ? [] : extension(21, new Array<number>(f.padding).fill(0))),
    ...(f.raw ?? [])
  ]
  const body = [
    ...u16(0x0303),
    ...new Array<number>(32).fill(7),
    ...vec8(f.sessionId ?? []),
    ...vec16((f.cipherSuites ?? [0x1301, 0x1302]).flatMap(u16)),
    ...vec8([0]),
    ...(f.noExtensions === true ? [] : vec16(extensions))
  ]
  return new Uint8Array([1, ...u24(body.length), ...body])
}

/** `message` in handshake records whose payloads have the given sizes (the last one repeats). */
export const records = (message: Uint8Array, sizes: ReadonlyArray<number> = [16384], version = 0x0301): Uint8Array => {
  const out: Array<number> = []
  let offset = 0
  let i = 0
  while (offset < message.length) {
    const size = Math.max(1, Math.min(sizes[Math.min(i, sizes.length - 1)]!, 16384))
    const fragment = message.subarray(offset, offset + size)
    out.push(22, ...u16(version), ...u16(fragment.length), ...fragment)
    offset += fragment.length
    i++
  }
  return new Uint8Array(out)
}

/** The ClientHello in one record. */
export const clientHello = (f: ClientHelloFields = {}) => records(helloMessage(f))

/** `bytes` cut into pieces of the given sizes (the last one repeats). */
export const chunked = (bytes: Uint8Array, sizes: ReadonlyArray<number>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let offset = 0
  let i = 0
  while (offset < bytes.length) {
    const size = Math.max(1, sizes.length === 0 ? bytes.length : sizes[Math.min(i, sizes.length - 1)]!)
    out.push(bytes.slice(offset, offset + size))
    offset += size
    i++
  }
  return out
}

/** A transport that delivers `chunks`, then ends; it counts its reads. */
export const replay = (chunks: ReadonlyArray<Uint8Array>): Transport & { readonly reads: () => number } => {
  let next = 0
  return {
    read: Effect.sync(() => (next < chunks.length ? Option.some(chunks[next++]!) : Option.none())),
    write: () => Effect.void,
    end: Effect.void,
    close: Effect.void,
    remoteAddress: undefined,
    reads: () => next
  }
}
