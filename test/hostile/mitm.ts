/**
 * A man-in-the-middle on 127.0.0.1 (port 0) that understands TLS record
 * framing: it forwards whole records between a client and a server and can
 * tamper with the next record that matches, in either direction, the way
 * an attacker on the path could: flip a byte, replace a record with
 * garbage, inject a record before it, cut it in half and end the
 * connection, hold it back and send it after the next one (reorder), or
 * send it twice (replay).
 *
 * Uses node:net only, so it runs the same under Node and Bun.
 */
import { Effect, type Scope } from "effect"
import * as net from "node:net"
import { makeCondition } from "../src/condition.js"

/** Which way a record travels. */
export type Direction = "toServer" | "toClient"

/** One TLS record as it crossed the proxy. */
export interface TlsRecord {
  /** The content type: 20 change_cipher_spec, 21 alert, 22 handshake, 23 application_data. */
  readonly type: number
  /** The whole record, header included. */
  readonly bytes: Buffer
}

/** What to do to the next matching record. */
export type Tamper =
  /** XOR one byte of the payload with 0x01 (`at` counts from the payload's start, default the middle). */
  | { readonly _tag: "flip"; readonly at?: number }
  /** Replace the payload with bytes from `random` (same header, same length). */
  | { readonly _tag: "garbage"; readonly random: () => number }
  /** Send `record` (a whole record, header included) before the matching one. */
  | { readonly _tag: "inject"; readonly record: Buffer }
  /** Send the first half of the record, then end the connection in that direction. */
  | { readonly _tag: "cut" }
  /** Hold the record back and send it after the next record of the same direction. */
  | { readonly _tag: "reorder" }
  /** Send the record twice. */
  | { readonly _tag: "replay" }
  /** Send `mutate(record)` instead (any bytes: a fuzzer's mutation). */
  | { readonly _tag: "mutate"; readonly mutate: (record: Buffer) => Buffer }

/** Application data records whose payload is at least `bytes` long (default 512). */
export const bigApplicationData = (bytes = 512) => (record: TlsRecord) =>
  record.type === 23 && record.bytes.length - 5 >= bytes

/** A record of `type` with `payload`, in TLS 1.2's record version. */
export const record = (type: number, payload: Uint8Array): Buffer => {
  const header = Buffer.from([type, 3, 3, payload.length >> 8, payload.length & 0xff])
  return Buffer.concat([header, payload])
}

/** A plaintext handshake record holding a HelloRequest (type 0, empty body). */
export const plaintextHandshakeRecord = record(22, Buffer.from([0, 0, 0, 0]))

export interface Mitm {
  /** The port clients connect to. */
  readonly port: number
  /**
   * Tamper with the next record in `direction` that matches `which`
   * (from now on; records already forwarded are not touched).
   */
  readonly arm: (direction: Direction, tamper: Tamper, which?: (record: TlsRecord) => boolean) => void
  /** Completes once the tamper armed in `direction` was applied. */
  readonly tampered: (direction: Direction) => Effect.Effect<void>
  /** Records forwarded so far in `direction`. */
  readonly records: (direction: Direction) => ReadonlyArray<TlsRecord>
  /** Completes once both sockets of every proxied connection are closed. */
  readonly allClosed: Effect.Effect<void>
}

interface Armed {
  readonly tamper: Tamper
  readonly which: (record: TlsRecord) => boolean
}

/**
 * A record-aware proxy in front of `127.0.0.1:targetPort`, for the
 * scope's lifetime. Each accepted connection is proxied to a new
 * connection to the target; bytes that do not frame as records (a
 * length over 2^14 + 2048) are forwarded unparsed.
 */
export const makeMitm = (targetPort: number): Effect.Effect<Mitm, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { notify, until } = makeCondition()
    const armed: Record<Direction, Armed | undefined> = { toServer: undefined, toClient: undefined }
    const applied: Record<Direction, number> = { toServer: 0, toClient: 0 }
    const seen: Record<Direction, Array<TlsRecord>> = { toServer: [], toClient: [] }
    const sockets = new Set<net.Socket>()
    let open = 0

    const pipe = (from: net.Socket, to: net.Socket, direction: Direction) => {
      let buffered: Buffer = Buffer.alloc(0)
      let held: Buffer | undefined
      let raw = false
      const send = (bytes: Buffer) => {
        if (!to.destroyed && !to.writableEnded) to.write(bytes)
      }
      const forward = (r: TlsRecord) => {
        seen[direction].push(r)
        const a = armed[direction]
        if (a === undefined || !a.which(r)) {
          send(r.bytes)
          if (held !== undefined) {
            send(held)
            held = undefined
          }
          return
        }
        armed[direction] = undefined
        applied[direction]++
        notify()
        const t = a.tamper
        switch (t._tag) {
          case "flip": {
            const copy = Buffer.from(r.bytes)
            const payload = copy.length - 5
            const at = 5 + Math.min(payload - 1, t.at ?? Math.floor(payload / 2))
            copy[at]! ^= 0x01
            return send(copy)
          }
          case "garbage": {
            const copy = Buffer.from(r.bytes)
            for (let i = 5; i < copy.length; i++) copy[i] = Math.floor(t.random() * 256)
            return send(copy)
          }
          case "inject":
            send(t.record)
            return send(r.bytes)
          case "cut":
            send(r.bytes.subarray(0, Math.max(1, r.bytes.length >> 1)))
            return to.end()
          case "reorder":
            held = r.bytes
            return
          case "replay":
            send(r.bytes)
            return send(r.bytes)
          case "mutate":
            return send(t.mutate(Buffer.from(r.bytes)))
        }
      }
      from.on("data", (chunk: Buffer) => {
        if (raw) return send(chunk)
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
        while (buffered.length >= 5) {
          const length = buffered.readUInt16BE(3)
          if (length > 16384 + 2048) {
            raw = true
            send(buffered)
            buffered = Buffer.alloc(0)
            return
          }
          if (buffered.length < 5 + length) break
          const bytes = buffered.subarray(0, 5 + length)
          buffered = buffered.subarray(5 + length)
          forward({ type: bytes[0]!, bytes })
        }
      })
      from.on("end", () => {
        if (held !== undefined) send(held)
        if (buffered.length > 0) send(buffered)
        if (!to.destroyed) to.end()
      })
      from.on("error", () => to.destroy())
    }

    const track = (socket: net.Socket) => {
      sockets.add(socket)
      open++
      socket.on("error", () => {})
      socket.on("close", () => {
        sockets.delete(socket)
        open--
        notify()
      })
    }

    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server>((resume) => {
        const s = net.createServer({ allowHalfOpen: true }, (client) => {
          track(client)
          client.pause()
          const upstream = net.connect({ host: "127.0.0.1", port: targetPort, allowHalfOpen: true })
          track(upstream)
          upstream.on("connect", () => {
            client.resume()
          })
          pipe(client, upstream, "toServer")
          pipe(upstream, client, "toClient")
          upstream.on("close", () => client.destroy())
          client.on("close", () => upstream.destroy())
        })
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          for (const socket of sockets) socket.destroy()
          s.close(() => resume(Effect.void))
        })
    )
    return {
      port: (server.address() as net.AddressInfo).port,
      arm: (direction, tamper, which = bigApplicationData()) => {
        armed[direction] = { tamper, which }
      },
      tampered: (direction) => until(() => armed[direction] === undefined && applied[direction] > 0),
      records: (direction) => seen[direction],
      allClosed: until(() => open === 0)
    }
  })
