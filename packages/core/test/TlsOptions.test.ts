import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Exit, Redacted } from "effect"
import * as TlsOptions from "../src/TlsOptions.js"

const CERT = `-----BEGIN CERTIFICATE-----
MIIBszCCAVmgAwIBAgIUQ2VydGlmaWNhdGVGb3JUZXN0czAKBggqhkjOPQQDAjAP
-----END CERTIFICATE-----
`
const KEY = `-----BEGIN PRIVATE KEY-----
c2VjcmV0LWtleS1tYXRlcmlhbC1kby1ub3QtbG9n
-----END PRIVATE KEY-----
`

const configError = <A>(effect: Effect.Effect<A, unknown>) =>
  Effect.map(Effect.exit(effect), (exit) => {
    if (Exit.isSuccess(exit)) throw new Error("expected a TlsConfigError")
    return exit.cause._tag === "Fail" ? (exit.cause.error as TlsOptions.ResolvedClient & { _tag: string; option: string; message: string }) : undefined
  })

describe("TlsOptions.decodeClient", () => {
  it.effect("fills in secure defaults", () =>
    Effect.gen(function*() {
      const o = yield* TlsOptions.decodeClient({ host: "example.com", port: 443 })
      expect(o.verify).toBe(true)
      expect(o.minVersion).toBe("TLSv1.2")
      expect(o.maxVersion).toBe("TLSv1.3")
      expect(o.sni).toBe("example.com")
      expect(o.verifyHost).toBe("example.com")
      expect(o.alpnProtocols).toEqual([])
      expect(Duration.toMillis(o.handshakeTimeout)).toBe(30_000)
      // Strict close semantics unless told otherwise in so many words.
      expect(o.allowTruncation).toBe(false)
    }))

  it.effect("allowTruncation is a boolean, in both roles and for upgrade", () =>
    Effect.gen(function*() {
      expect((yield* TlsOptions.decodeClient({ host: "example.com", port: 443, allowTruncation: true })).allowTruncation)
        .toBe(true)
      expect((yield* TlsOptions.decodeServer({ cert: CERT, key: KEY, allowTruncation: true })).allowTruncation).toBe(true)
      expect((yield* TlsOptions.decodeUpgrade({ role: "client", servername: "x.test", allowTruncation: true }))
        .allowTruncation).toBe(true)
      const bad = { host: "example.com", port: 443, allowTruncation: "yes" as unknown as boolean }
      expect((yield* configError(TlsOptions.decodeClient(bad)))?.option).toBe("allowTruncation")
    }))

  it.effect("takes CRLs as X509 CRL blocks only", () =>
    Effect.gen(function*() {
      const crl = "-----BEGIN X509 CRL-----\nMIIBszCCAVmgAwIBAgIU\n-----END X509 CRL-----\n"
      const o = yield* TlsOptions.decodeClient({ host: "example.com", port: 443, crl: [crl, crl] })
      expect(o.crl).toHaveLength(2)
      expect((yield* configError(TlsOptions.decodeClient({ host: "example.com", port: 443, crl: CERT })))?.option).toBe("crl")
      expect((yield* configError(TlsOptions.decodeClient({ host: "example.com", port: 443, crl: [] })))?.option).toBe("crl")
    }))

  it.effect("server limits: positive counts and durations, with defaults a public server can run with", () =>
    Effect.gen(function*() {
      const o = yield* TlsOptions.decodeServer({ cert: CERT, key: KEY })
      expect(o.maxConnections).toBe(4096)
      expect(o.maxHandshakes).toBe(256)
      expect(Duration.toMillis(o.idleTimeout)).toBe(300_000)
      expect(Duration.toMillis(o.closeGrace)).toBe(5_000)
      expect((yield* configError(TlsOptions.decodeServer({ cert: CERT, key: KEY, maxConnections: 0 })))?.option).toBe(
        "maxConnections"
      )
      expect((yield* configError(TlsOptions.decodeServer({ cert: CERT, key: KEY, maxHandshakes: 1.5 })))?.option).toBe(
        "maxHandshakes"
      )
      expect((yield* configError(TlsOptions.decodeServer({ cert: CERT, key: KEY, idleTimeout: 0 })))?.option).toBe(
        "idleTimeout"
      )
      expect((yield* configError(TlsOptions.decodeServer({ cert: CERT, key: KEY, closeGrace: -1 })))?.option).toBe(
        "closeGrace"
      )
      const off = yield* TlsOptions.decodeServer({ cert: CERT, key: KEY, idleTimeout: Duration.infinity })
      expect(Duration.isFinite(off.idleTimeout)).toBe(false)
    }))

  it.effect("sends no SNI for an IP address but still verifies it", () =>
    Effect.gen(function*() {
      const v4 = yield* TlsOptions.decodeClient({ host: "127.0.0.1", port: 443 })
      expect(v4.sni).toBeUndefined()
      expect(v4.verifyHost).toBe("127.0.0.1")
      const v6 = yield* TlsOptions.decodeClient({ host: "::1", port: 443 })
      expect(v6.sni).toBeUndefined()
      const named = yield* TlsOptions.decodeClient({ host: "127.0.0.1", port: 443, servername: "api.test" })
      expect(named.sni).toBe("api.test")
      expect(named.verifyHost).toBe("api.test")
    }))

  it.effect("keeps the key redacted", () =>
    Effect.gen(function*() {
      const o = yield* TlsOptions.decodeClient({ host: "h", port: 1, cert: CERT, key: Redacted.make(KEY) })
      expect(Redacted.isRedacted(o.key)).toBe(true)
      expect(String(o.key)).not.toContain("c2VjcmV0")
      expect(JSON.stringify(o)).not.toContain("c2VjcmV0")
    }))

  it.effect("accepts PEM as bytes", () =>
    Effect.gen(function*() {
      const o = yield* TlsOptions.decodeClient({ host: "h", port: 1, ca: [new TextEncoder().encode(CERT)] })
      expect(o.ca).toEqual([CERT.trim()])
    }))

  const rejects: ReadonlyArray<readonly [string, TlsOptions.ClientOptions, string]> = [
    ["an empty host", { host: "", port: 1 }, "host"],
    ["a port of 0", { host: "h", port: 0 }, "port"],
    ["a fractional port", { host: "h", port: 1.5 }, "port"],
    ["TLS 1.0", { host: "h", port: 1, minVersion: "TLSv1" as never }, "minVersion"],
    ["an unknown maxVersion", { host: "h", port: 1, maxVersion: "TLSv9" as never }, "maxVersion"],
    ["min above max", { host: "h", port: 1, minVersion: "TLSv1.3", maxVersion: "TLSv1.2" }, "minVersion"],
    ["a duplicate ALPN name", { host: "h", port: 1, alpnProtocols: ["h2", "h2"] }, "alpnProtocols[1]"],
    ["an ALPN name over 255 bytes", { host: "h", port: 1, alpnProtocols: ["x".repeat(256)] }, "alpnProtocols[0]"],
    ["text that is not PEM", { host: "h", port: 1, ca: "hello" }, "ca"],
    ["a key block given as a CA", { host: "h", port: 1, ca: KEY }, "ca"],
    ["an empty CA list", { host: "h", port: 1, ca: [] }, "ca"],
    ["bad base64 in a certificate", { host: "h", port: 1, ca: CERT.replace("MIIB", "M!IB") }, "ca"],
    ["a certificate without its key", { host: "h", port: 1, cert: CERT }, "key"],
    ["a key without its certificate", { host: "h", port: 1, key: KEY }, "cert"],
    ["an encrypted key", { host: "h", port: 1, cert: CERT, key: KEY.replaceAll("PRIVATE KEY", "ENCRYPTED PRIVATE KEY") }, "key"],
    ["a certificate given as the key", { host: "h", port: 1, cert: CERT, key: CERT }, "key"],
    ["an empty cipher list", { host: "h", port: 1, ciphers: " " }, "ciphers"],
    ["a zero handshake timeout", { host: "h", port: 1, handshakeTimeout: 0 }, "handshakeTimeout"],
    ["a non-boolean verify", { host: "h", port: 1, verify: "no" as never }, "verify"]
  ]
  for (const [title, options, option] of rejects) {
    it.effect(`rejects ${title} with TlsConfigError naming ${option}`, () =>
      Effect.gen(function*() {
        const e = yield* configError(TlsOptions.decodeClient(options))
        expect(e).toMatchObject({ _tag: "TlsConfigError", option })
        expect(e?.message).toContain(option)
        expect(e?.message).not.toContain("c2VjcmV0")
      }))
  }
})

describe("TlsOptions.decodeServer", () => {
  it.effect("binds to every interface on a free port by default", () =>
    Effect.gen(function*() {
      const o = yield* TlsOptions.decodeServer({ cert: CERT, key: KEY })
      expect(o.host).toBe("0.0.0.0")
      expect(o.port).toBe(0)
      expect(o.requestCert).toBe(false)
    }))

  it.effect("needs a certificate", () =>
    Effect.gen(function*() {
      expect(yield* configError(TlsOptions.decodeServer({}))).toMatchObject({ _tag: "TlsConfigError", option: "cert" })
    }))

  it.effect("needs the client CA when it requires client certificates", () =>
    Effect.gen(function*() {
      expect(yield* configError(TlsOptions.decodeServer({ cert: CERT, key: KEY, requestCert: true }))).toMatchObject({
        _tag: "TlsConfigError",
        option: "ca"
      })
    }))
})

describe("TlsOptions.decodeUpgrade", () => {
  it.effect("needs a role", () =>
    Effect.gen(function*() {
      expect(yield* configError(TlsOptions.decodeUpgrade({} as never))).toMatchObject({ option: "role" })
    }))

  it.effect("needs a name to verify unless verification is off", () =>
    Effect.gen(function*() {
      expect(yield* configError(TlsOptions.decodeUpgrade({ role: "client" }))).toMatchObject({ option: "servername" })
      const o = yield* TlsOptions.decodeUpgrade({ role: "client", verify: false })
      expect(o).toMatchObject({ role: "client", verify: false, sni: undefined })
    }))

  it.effect("in the server role, checks client certificate options as listen does", () =>
    Effect.gen(function*() {
      const server = { role: "server", cert: CERT, key: KEY } as const
      expect(yield* configError(TlsOptions.decodeUpgrade({ ...server, requestCert: "yes" as never }))).toMatchObject({
        option: "requestCert"
      })
      expect(yield* configError(TlsOptions.decodeUpgrade({ ...server, requestCert: true }))).toMatchObject({ option: "ca" })
      expect(yield* TlsOptions.decodeUpgrade(server)).toMatchObject({ role: "server", requestCert: false })
    }))
})
