/**
 * ClientHello inspection: the fields of both forms, every way of
 * fragmenting them, and total behaviour on malformed and arbitrary input.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, Option } from "effect"
import * as ClientHello from "../src/ClientHello.js"
import type { ClientHelloFields } from "../src/testing.js"
import {
  ascii,
  chunked,
  clientHello,
  extension,
  helloMessage,
  records,
  replay,
  u16,
  u24,
  vec16,
  vec8
} from "../src/internal/testing/clientHello.js"

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 300) }

const tls13: ClientHelloFields = {
  servername: "www.example.com",
  alpn: ["h2", "http/1.1"],
  versions: [0x0304, 0x0303],
  groups: [0x001d, 0x0017],
  keyShares: [0x001d],
  signatureAlgorithms: [0x0403, 0x0804],
  cipherSuites: [0x1301, 0x1302, 0x1303, 0xc02b],
  sessionId: new Array<number>(32).fill(9)
}

const complete = (bytes: Uint8Array) => {
  const result = ClientHello.inspect(bytes)
  if (result._tag !== "Complete") throw new Error(`expected Complete, got ${JSON.stringify(result)}`)
  return result
}

const failure = (bytes: Uint8Array) => {
  const result = ClientHello.inspect(bytes)
  if (result._tag !== "Invalid") throw new Error(`expected Invalid, got ${result._tag}`)
  return result.error
}

/** The fields a server decides on. */
const summary = (hello: ClientHello.ClientHello) => ({
  serverName: hello.serverName,
  alpnProtocols: hello.alpnProtocols,
  supportedVersions: hello.supportedVersions,
  supportedGroups: hello.supportedGroups,
  keyShareGroups: hello.keyShareGroups,
  signatureAlgorithms: hello.signatureAlgorithms,
  cipherSuites: hello.cipherSuites
})

/** A hello whose handshake message is `body` (after legacy_version and random). */
const withBody = (rest: ReadonlyArray<number>) => {
  const body = [...u16(0x0303), ...new Array<number>(32).fill(1), ...rest]
  return records(new Uint8Array([1, ...u24(body.length), ...body]))
}
const minimalPrefix = [...vec8([]), ...vec16(u16(0x1301)), ...vec8([0])]

describe("ClientHello.inspect", () => {
  describe("fields", () => {
    it("reads every field of a TLS 1.3 hello", () => {
      const bytes = clientHello(tls13)
      const { hello, length } = complete(bytes)
      expect(length).toBe(bytes.length)
      expect(summary(hello)).toEqual({
        serverName: Option.some("www.example.com"),
        alpnProtocols: ["h2", "http/1.1"],
        supportedVersions: [0x0304, 0x0303],
        supportedGroups: [0x001d, 0x0017],
        keyShareGroups: [0x001d],
        signatureAlgorithms: [0x0403, 0x0804],
        cipherSuites: [0x1301, 0x1302, 0x1303, 0xc02b]
      })
      expect(hello.legacyVersion).toBe(0x0303)
      expect(hello.random).toEqual(new Uint8Array(32).fill(7))
      expect(hello.sessionId).toEqual(new Uint8Array(32).fill(9))
      expect(hello.compressionMethods).toEqual([0])
      expect(hello.extensions.map((e) => e.type)).toEqual([0, 10, 13, 16, 43, 51])
    })

    it("reads a TLS 1.2 hello without an extensions block", () => {
      const { hello } = complete(clientHello({ noExtensions: true, cipherSuites: [0xc02b, 0xc02f] }))
      expect(summary(hello)).toEqual({
        serverName: Option.none(),
        alpnProtocols: [],
        supportedVersions: [],
        supportedGroups: [],
        keyShareGroups: [],
        signatureAlgorithms: [],
        cipherSuites: [0xc02b, 0xc02f]
      })
      expect(hello.extensions).toEqual([])
    })

    it("keeps unknown extensions in order with their bytes", () => {
      const { hello } = complete(clientHello({ servername: "a.test", raw: extension(0xfe0d, [1, 2, 3]) }))
      expect(hello.extensions.at(-1)).toEqual({ type: 0xfe0d, data: new Uint8Array([1, 2, 3]) })
    })

    it("accepts an empty extensions block and record versions 0x0301 to 0x0303", () => {
      for (const version of [0x0301, 0x0302, 0x0303]) {
        const { hello } = complete(records(helloMessage({}), [16384], version))
        expect(hello.extensions).toEqual([])
        expect(hello.cipherSuites).toEqual([0x1301, 0x1302])
      }
    })

    it("skips server_name entries of unknown name types", () => {
      const sni = extension(0, vec16([7, ...vec16(ascii("other")), 0, ...vec16(ascii("host.test"))]))
      expect(complete(withBody([...minimalPrefix, ...vec16(sni)])).hello.serverName).toEqual(Option.some("host.test"))
    })

    it("reports the bytes of the records that carried the hello, not what follows them", () => {
      const bytes = clientHello(tls13)
      const followed = new Uint8Array([...bytes, 20, 3, 3, 0, 1, 1])
      expect(complete(followed).length).toBe(bytes.length)
    })
  })

  describe("fragmentation", () => {
    it("answers NeedMore for every proper prefix", () => {
      const bytes = records(helloMessage(tls13), [50])
      for (let n = 0; n < bytes.length; n++) {
        expect(ClientHello.inspect(bytes.subarray(0, n))._tag, `prefix of ${n} bytes`).toBe("NeedMore")
      }
      expect(complete(bytes).length).toBe(bytes.length)
    })

    it.effect("reads a 16 KB hello arriving one byte per read", () =>
      Effect.gen(function*() {
        const bytes = clientHello({ ...tls13, padding: 16_000 })
        const transport = replay(chunked(bytes, [1]))
        const { bytes: read, hello } = yield* ClientHello.read(transport)
        expect(read).toEqual(bytes)
        expect(hello.serverName).toEqual(Option.some("www.example.com"))
        expect(transport.reads()).toBe(bytes.length)
      }))

    it.effect("reads a 10 KB hello in one-byte records, one byte per read (linear, not quadratic)", () =>
      Effect.gen(function*() {
        const message = helloMessage({ ...tls13, padding: 10_000 })
        const bytes = records(message, [1])
        expect(bytes.length).toBeLessThan(ClientHello.maxBytes)
        const transport = replay(chunked(bytes, [1]))
        const { bytes: read, hello } = yield* ClientHello.read(transport)
        expect(read.length).toBe(bytes.length)
        expect(transport.reads()).toBe(bytes.length)
        expect(hello.alpnProtocols).toEqual(["h2", "http/1.1"])
      }))

    it.effect("reads a hello in one-byte records, one byte per read", () =>
      Effect.gen(function*() {
        const bytes = records(helloMessage(tls13), [1])
        const { hello } = yield* ClientHello.read(replay(chunked(bytes, [1])))
        expect(summary(hello)).toEqual(summary(complete(clientHello(tls13)).hello))
      }))

    it.effect("hands back every byte read, including what came after the hello", () =>
      Effect.gen(function*() {
        const bytes = new Uint8Array([...clientHello(tls13), 23, 3, 3, 0, 2, 0xaa, 0xbb])
        const { bytes: read } = yield* ClientHello.read(replay([bytes]))
        expect(read).toEqual(bytes)
      }))

    const hostname = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,3}$/)
    const protocol = fc.stringMatching(/^[\x21-\x7e]{1,20}$/)
    const fields: fc.Arbitrary<ClientHelloFields> = fc.record({
      servername: fc.option(hostname, { nil: undefined }),
      alpn: fc.option(fc.uniqueArray(protocol, { minLength: 1, maxLength: 6 }), { nil: undefined }),
      versions: fc.option(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 5 }), { nil: undefined }),
      groups: fc.option(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 8 }), { nil: undefined }),
      keyShares: fc.option(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 0, maxLength: 3 }), { nil: undefined }),
      cipherSuites: fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 30 }),
      padding: fc.option(fc.integer({ min: 0, max: 3000 }), { nil: undefined })
    })
    const sizes = fc.array(fc.integer({ min: 1, max: 600 }), { minLength: 1, maxLength: 8 })

    it.prop(
      "answers NeedMore for every proper prefix of any hello at any fragmentation",
      [fields, sizes, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })],
      ([f, recordSizes, where]) => {
        const bytes = records(helloMessage(f), recordSizes)
        const cut = Math.floor(where * bytes.length)
        expect(ClientHello.inspect(bytes.subarray(0, cut))._tag).toBe("NeedMore")
        expect(ClientHello.inspect(bytes)._tag).toBe("Complete")
      },
      { fastCheck: RUNS }
    )

    it.effect.prop(
      "recovers the same fields at any record fragmentation and read chunking",
      [fields, sizes, sizes],
      ([f, recordSizes, readSizes]) =>
        Effect.gen(function*() {
          const bytes = records(helloMessage(f), recordSizes)
          const { bytes: read, hello } = yield* ClientHello.read(replay(chunked(bytes, readSizes)))
          expect(Buffer.compare(read, bytes)).toBe(0)
          expect(hello.serverName).toEqual(Option.fromNullable(f.servername))
          expect(hello.alpnProtocols).toEqual(f.alpn ?? [])
          expect(hello.supportedVersions).toEqual(f.versions ?? [])
          expect(hello.supportedGroups).toEqual(f.groups ?? [])
          expect(hello.keyShareGroups).toEqual(f.keyShares ?? [])
          expect(hello.cipherSuites).toEqual(f.cipherSuites)
        }),
      { fastCheck: RUNS }
    )
  })

  describe("malformed input", () => {
    it("an HTTP request is ERR_SSL_HTTP_REQUEST, once its method is certain", () => {
      expect(ClientHello.inspect(new Uint8Array(ascii("GE")))._tag).toBe("NeedMore")
      for (const request of ["GET / HTTP/1.1\r\n", "POST /x HTTP/1.1\r\n", "CONNECT a:443 HTTP/1.1\r\n"]) {
        expect(failure(new Uint8Array(ascii(request)))).toMatchObject({
          _tag: "TlsProtocolError",
          code: "ERR_SSL_HTTP_REQUEST"
        })
      }
    })

    it("an SSL 2.0-format hello is refused with its own code", () => {
      expect(failure(new Uint8Array([0x80, 0x2e, 0x01, 0x00, 0x02]))).toMatchObject({
        _tag: "TlsProtocolError",
        code: "ERR_SSL_SSLV2_CLIENT_HELLO"
      })
    })

    const cases: ReadonlyArray<readonly [string, Uint8Array, Record<string, unknown>]> = [
      ["application data first", new Uint8Array([23, 3, 3, 0, 1, 0]), { alert: "unexpected_message" }],
      ["text that is not HTTP", new Uint8Array(ascii("hello there")), { alert: "unexpected_message" }],
      ["a record version that is not 3.x", new Uint8Array([22, 2, 0, 0, 1, 1]), {
        _tag: "TlsProtocolError",
        code: "ERR_SSL_WRONG_VERSION_NUMBER"
      }],
      ["record version SSL 3.0", records(helloMessage(tls13), [16384], 0x0300), { alert: "protocol_version" }],
      ["record version 0x0304", records(helloMessage(tls13), [16384], 0x0304), { alert: "protocol_version" }],
      ["a ServerHello type byte, as soon as it arrives", new Uint8Array([22, 3, 1, 0, 1, 2]), {
        alert: "unexpected_message"
      }],
      ["an empty handshake record", new Uint8Array([22, 3, 1, 0, 0]), { alert: "unexpected_message" }],
      ["a record over 2^14 bytes", new Uint8Array([22, 3, 1, 0x40, 0x01]), { alert: "record_overflow" }],
      ["a ServerHello instead", records(new Uint8Array([2, 0, 0, 2, 3, 3])), { alert: "unexpected_message" }],
      ["a change_cipher_spec record mid-hello", new Uint8Array([
        ...records(helloMessage(tls13)).subarray(0, 20).map((b, i) => (i === 4 ? 15 : b)),
        20, 3, 3, 0, 1, 1
      ]), { alert: "unexpected_message" }],
      ["a declared ClientHello over 64 KiB", records(new Uint8Array([1, 0x01, 0x00, 0x00, 3, 3])), {
        alert: "decode_error"
      }],
      ["a session id of 33 bytes", withBody([...vec8(new Array<number>(33).fill(0)), ...vec16(u16(0x1301)), ...vec8([0])]), {
        alert: "decode_error"
      }],
      ["an odd cipher suites length", withBody([...vec8([]), ...vec16([0x13]), ...vec8([0])]), { alert: "decode_error" }],
      ["no cipher suites", withBody([...vec8([]), ...vec16([]), ...vec8([0])]), { alert: "decode_error" }],
      ["no compression methods", withBody([...vec8([]), ...vec16(u16(0x1301)), ...vec8([])]), { alert: "decode_error" }],
      ["an extensions block longer than the message", withBody([...minimalPrefix, ...u16(10), 0, 0]), {
        alert: "decode_error"
      }],
      ["bytes after the extensions block", withBody([...minimalPrefix, ...vec16([]), 0]), { alert: "decode_error" }],
      ["the same extension twice", withBody([...minimalPrefix, ...vec16([...extension(16, vec16(vec8(ascii("h2")))), ...extension(16, vec16(vec8(ascii("h2"))))])]), {
        alert: "illegal_parameter"
      }],
      ["an empty ALPN protocol name", withBody([...minimalPrefix, ...vec16(extension(16, vec16(vec8([]))))]), {
        alert: "decode_error"
      }],
      ["an empty ALPN list", withBody([...minimalPrefix, ...vec16(extension(16, vec16([])))]), { alert: "decode_error" }],
      ["two host names in server_name", withBody([...minimalPrefix, ...vec16(extension(0, vec16([0, ...vec16(ascii("a")), 0, ...vec16(ascii("b"))])))]), {
        alert: "illegal_parameter"
      }],
      ["a NUL in the host name", withBody([...minimalPrefix, ...vec16(extension(0, vec16([0, ...vec16([97, 0, 98])])))]), {
        alert: "illegal_parameter"
      }],
      ["an empty server_name extension", withBody([...minimalPrefix, ...vec16(extension(0, []))]), { alert: "decode_error" }],
      ["a key share with an empty key", withBody([...minimalPrefix, ...vec16(extension(51, vec16([...u16(0x1d), ...vec16([])])))]), {
        alert: "decode_error"
      }],
      ["an odd supported_groups length", withBody([...minimalPrefix, ...vec16(extension(10, vec16([0, 0x1d, 0])))]), {
        alert: "decode_error"
      }],
      ["an empty signature_algorithms list", withBody([...minimalPrefix, ...vec16(extension(13, vec16([])))]), {
        alert: "decode_error"
      }],
      ["a key_share list longer than its extension", withBody([...minimalPrefix, ...vec16(extension(51, [...u16(40), ...u16(0x1d), ...vec16([1])]))]), {
        alert: "decode_error"
      }],
      ["an extension longer than the extensions block", withBody([...minimalPrefix, ...vec16([...u16(0xfe0d), ...u16(9), 1, 2])]), {
        alert: "decode_error"
      }],
      ["a server_name entry longer than its list", withBody([...minimalPrefix, ...vec16(extension(0, vec16([0, ...u16(20), ...ascii("a.test")])))]), {
        alert: "decode_error"
      }],
      ["supported_versions with trailing bytes", withBody([...minimalPrefix, ...vec16(extension(43, [...vec8(u16(0x0304)), 9]))]), {
        alert: "decode_error"
      }]
    ]
    for (const [name, bytes, expected] of cases) {
      it(`${name} is refused`, () => {
        const error = failure(bytes)
        expect(error).toMatchObject(expected)
        if (error._tag === "TlsAlertError") expect(error.direction).toBe("sent")
      })
    }

    it.effect("a transport that ends mid-hello gives TlsUnexpectedEof", () =>
      Effect.gen(function*() {
        const bytes = clientHello(tls13)
        const error = yield* Effect.flip(ClientHello.read(replay([bytes.subarray(0, 40)])))
        expect(error).toMatchObject({ _tag: "TlsUnexpectedEof", phase: "handshake" })
      }))

    /** The error `read` ends with, or a short note if it succeeded (no giant diffs). */
    const readError = (chunks: ReadonlyArray<Uint8Array>) =>
      Effect.map(Effect.either(ClientHello.read(replay(chunks))), (e) => (e._tag === "Left" ? e.left : "read succeeded"))

    it.effect("a hello declared longer than maxBytes fails at its first record", () =>
      Effect.gen(function*() {
        const bytes = records(helloMessage({ padding: ClientHello.maxBytes }), [300])
        const chunks = chunked(bytes, [1000])
        expect(yield* readError(chunks)).toMatchObject({ _tag: "TlsAlertError", alert: "decode_error" })
      }))

    it.effect("a first flight whose record headers push it over maxBytes fails once the bound is passed", () =>
      Effect.gen(function*() {
        // Under the bound as a message, over it in 300-byte records (5 header bytes each).
        const message = helloMessage({ padding: ClientHello.maxBytes - 600 })
        expect(message.length + 5).toBeLessThan(ClientHello.maxBytes)
        const transport = replay(chunked(records(message, [300]), [1000]))
        const error = yield* Effect.either(ClientHello.read(transport))
        expect(error._tag === "Left" ? error.left : "read succeeded").toMatchObject({
          _tag: "TlsAlertError",
          alert: "decode_error"
        })
        expect(transport.reads()).toBeLessThanOrEqual(Math.ceil(ClientHello.maxBytes / 1000) + 1)
      }))
  })

  describe("total on any input", () => {
    const outcomes = ["NeedMore", "Complete", "Invalid"]
    const sizesOf = (min: number, max: number) => fc.array(fc.integer({ min, max }), { minLength: 1, maxLength: 8 })

    it.prop("never throws on arbitrary bytes", [fc.uint8Array({ maxLength: 2000 })], ([bytes]) => {
      expect(outcomes).toContain(ClientHello.inspect(bytes)._tag)
    }, { fastCheck: RUNS })

    it.prop(
      "never throws on arbitrary bytes behind a handshake record header",
      [fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 700 })],
      ([body, declared]) => {
        const bytes = new Uint8Array([22, 3, 1, ...u16(body.length + 4), 1, ...u24(declared), ...body])
        const result = ClientHello.inspect(bytes)
        expect(outcomes).toContain(result._tag)
        if (result._tag === "Complete") expect(result.length).toBeLessThanOrEqual(bytes.length)
      },
      { fastCheck: RUNS }
    )

    it.effect.prop(
      "read over any chunking agrees with inspect of the whole input, also on mutated hellos",
      [fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat(), sizesOf(1, 80)],
      ([edits, cut, readSizes]) =>
        Effect.gen(function*() {
          const bytes = records(helloMessage(tls13), [97]).slice()
          for (const [at, value] of edits) bytes[at % bytes.length] = value
          const input = bytes.subarray(0, bytes.length - (cut % 8))
          const whole = ClientHello.inspect(input)
          const read = yield* Effect.either(ClientHello.read(replay(chunked(input, readSizes))))
          switch (whole._tag) {
            case "NeedMore":
              expect(read).toMatchObject({ _tag: "Left", left: { _tag: "TlsUnexpectedEof" } })
              break
            case "Invalid":
              // The same error: class, alert or code, and reason.
              expect(read._tag === "Left" && read.left._tag).toBe(whole.error._tag)
              expect(read._tag === "Left" && { ...read.left }).toEqual({ ...whole.error })
              break
            case "Complete":
              expect(read).toMatchObject({ _tag: "Right", right: { hello: whole.hello } })
          }
        }),
      { fastCheck: RUNS }
    )

    it.prop(
      "refusals are alerts the server sends, or protocol errors for what is not TLS",
      [fc.uint8Array({ minLength: 1, maxLength: 300 })],
      ([bytes]) => {
        const result = ClientHello.inspect(new Uint8Array([22, 3, 3, ...u16(bytes.length), ...bytes]))
        if (result._tag !== "Invalid") return
        if (result.error._tag === "TlsAlertError") {
          expect(result.error.direction).toBe("sent")
          expect(ClientHello.alertRecord(result.error.alert)[6]).not.toBe(80)
        } else {
          expect(result.error.code).toMatch(/^ERR_SSL_/)
        }
      },
      { fastCheck: RUNS }
    )

    it.prop(
      "never throws when a valid hello has bytes changed, dropped or lengths truncated",
      [fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat()],
      ([edits, cut]) => {
        const bytes = clientHello(tls13).slice()
        for (const [at, value] of edits) bytes[at % bytes.length] = value
        const truncated = bytes.subarray(0, bytes.length - (cut % 8))
        expect(outcomes).toContain(ClientHello.inspect(truncated)._tag)
      },
      { fastCheck: RUNS }
    )
  })
})

describe("ClientHello.alertRecord", () => {
  it("is a plaintext fatal alert record", () => {
    expect(ClientHello.alertRecord("unrecognized_name")).toEqual(new Uint8Array([21, 3, 3, 0, 2, 2, 112]))
    expect(ClientHello.alertRecord("no_application_protocol")).toEqual(new Uint8Array([21, 3, 3, 0, 2, 2, 120]))
    expect(ClientHello.alertRecord("decode_error")).toEqual(new Uint8Array([21, 3, 3, 0, 2, 2, 50]))
  })

  it("knows every RFC 8446 alert name", () => {
    const codes = {
      close_notify: 0,
      unexpected_message: 10,
      bad_record_mac: 20,
      record_overflow: 22,
      handshake_failure: 40,
      bad_certificate: 42,
      unsupported_certificate: 43,
      certificate_revoked: 44,
      certificate_expired: 45,
      certificate_unknown: 46,
      illegal_parameter: 47,
      unknown_ca: 48,
      access_denied: 49,
      decode_error: 50,
      decrypt_error: 51,
      protocol_version: 70,
      insufficient_security: 71,
      internal_error: 80,
      inappropriate_fallback: 86,
      user_canceled: 90,
      missing_extension: 109,
      unsupported_extension: 110,
      unrecognized_name: 112,
      bad_certificate_status_response: 113,
      unknown_psk_identity: 115,
      certificate_required: 116,
      no_application_protocol: 120
    }
    for (const [name, code] of Object.entries(codes)) {
      expect(ClientHello.alertRecord(name), name).toEqual(new Uint8Array([21, 3, 3, 0, 2, 2, code]))
    }
  })

  it("turns an unknown alert name into internal_error", () => {
    expect(ClientHello.alertRecord("no_such_alert")).toEqual(new Uint8Array([21, 3, 3, 0, 2, 2, 80]))
    expect(ClientHello.alertRecord("toString")).toEqual(new Uint8Array([21, 3, 3, 0, 2, 2, 80]))
  })
})
