/**
 * `effect-tls probe` end to end on Node: the command's Effect against
 * `openssl s_server` (TLS 1.2 and 1.3, trusted with --ca and untrusted),
 * a fake SMTP server for STARTTLS, refused and failing cases; the real
 * built bin for exit codes, text output and JSON valid against
 * packages/cli/schema/probe.v1.json.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Probe, TlsPlatform } from "@effect-tls/cli"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { afterAll, beforeAll } from "vitest"
import { freePort, sServer, withPeers } from "./interop/peers.js"
import { builtBin, buildCli, fakeSmtp, fakeStartTls, run } from "./src/cliPeers.js"
import { validate } from "./src/jsonSchema.js"
import { generatePki } from "./src/pki.js"

const pki = generatePki()
afterAll(() => pki.cleanup())
const schema = JSON.parse(readFileSync(new URL("../packages/cli/schema/probe.v1.json", import.meta.url), "utf8"))
const serverFiles = ["-cert", pki.server.certFile, "-key", pki.server.keyFile, "-cert_chain", pki.intermediate.certFile]

const expectValid = (report: unknown) => expect(validate(schema, report)).toEqual([])

describe("effect-tls probe (the command's Effect, Node)", () => {
  layer(TlsPlatform.layerNode, { timeout: 60_000, excludeTestServices: true })((it) => {
    withPeers(["openssl"], it.scoped)("TLS 1.3, trusted with --ca, ALPN: verified, leaf described, exit 0", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-tls1_3", "-alpn", "h2,http/1.1", "-www"])
        const report = yield* Probe.probe({
          host: "localhost",
          port,
          ca: pki.root.cert,
          alpnProtocols: ["http/1.1", "h2"]
        })
        expectValid(report)
        expect(report.outcome).toBe("verified")
        expect(report.exitCode).toBe(0)
        expect(report.tls).toEqual({
          protocol: "TLSv1.3",
          cipher: expect.stringMatching(/^TLS_/),
          alpn: "h2",
          resumption: "not supported"
        })
        expect(report.verification).toEqual({ verified: true, error: null })
        const [leaf] = report.certificates
        expect(leaf).toMatchObject({
          subject: "O=effect-tls, CN=localhost",
          issuer: "CN=effect-tls Test Intermediate",
          subjectAltNames: ["DNS:localhost", "IP Address:127.0.0.1"],
          keyType: "ec",
          keyBits: 256,
          curve: "prime256v1"
        })
        expect(leaf!.daysLeft).toBeGreaterThanOrEqual(1)
        expect(report.chainComplete).toBe(true)
        expect(report.certificates.map((c) => c.subject)).toEqual([
          "O=effect-tls, CN=localhost",
          "CN=effect-tls Test Intermediate",
          "CN=effect-tls Test Root"
        ])
        expect(report.timings.tcpConnectMs).toBeGreaterThanOrEqual(0)
        expect(report.timings.handshakeMs).toBeGreaterThanOrEqual(0)
        expect(report.timings.starttlsMs).toBeNull()
        const text = Probe.render(report, false)
        expect(text).toContain("protocol     TLSv1.3")
        expect(text).toContain("verified     yes (localhost)")
        expect(text).toContain("resumption   not supported")
        expect(text).not.toContain("\u001b[")
      }))

    withPeers(["openssl"], it.scoped)("TLS 1.2, trusted with --ca: verified, an ECDHE suite", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-tls1_2", "-www"])
        const report = yield* Probe.probe({ host: "localhost", port, ca: pki.root.cert })
        expectValid(report)
        expect(report.outcome).toBe("verified")
        expect(report.tls?.protocol).toBe("TLSv1.2")
        expect(report.tls?.cipher).toMatch(/^TLS_ECDHE_ECDSA_WITH_/)
        expect(report.tls?.alpn).toBeNull()
      }))

    withPeers(["openssl"], it.scoped)("--max-version 1.2 against a server that speaks both: TLSv1.2", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-www"])
        const report = yield* Probe.probe({ host: "127.0.0.1", port, ca: pki.root.cert, maxVersion: "TLSv1.2" })
        expect(report.outcome).toBe("verified")
        expect(report.target.servername).toBe("127.0.0.1")
        expect(report.tls?.protocol).toBe("TLSv1.2")
      }))

    for (const version of ["-tls1_2", "-tls1_3"]) {
      withPeers(["openssl"], it.scoped)(`untrusted (${version}): TlsCertificateError with explanation, leaf still shown, exit 3`, () =>
        Effect.gen(function*() {
          const { port } = yield* sServer([...serverFiles, version, "-www"])
          const report = yield* Probe.probe({ host: "localhost", port })
          expectValid(report)
          expect(report.outcome).toBe("unverified")
          expect(report.exitCode).toBe(3)
          expect(report.verification?.verified).toBe(false)
          expect(report.verification?.error).toMatchObject({
            tag: "TlsCertificateError",
            code: "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
            advice: expect.stringContaining("--ca")
          })
          expect(report.tls?.protocol).toBe(version === "-tls1_2" ? "TLSv1.2" : "TLSv1.3")
          expect(report.certificates[0]?.subject).toBe("O=effect-tls, CN=localhost")
          const text = Probe.render(report, false)
          expect(text).toContain("verified     no: TlsCertificateError UNABLE_TO_GET_ISSUER_CERT_LOCALLY")
          expect(text).toMatch(/why  .+\n.*fix  .+--ca/)
        }))
    }

    withPeers(["openssl"], it.scoped)("a self-signed server: DEPTH_ZERO_SELF_SIGNED_CERT; trusted once given as --ca", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer(["-cert", pki.selfSigned.certFile, "-key", pki.selfSigned.keyFile, "-www"])
        const untrusted = yield* Probe.probe({ host: "localhost", port })
        expect(untrusted.verification?.error?.code).toBe("DEPTH_ZERO_SELF_SIGNED_CERT")
        const trusted = yield* Probe.probe({ host: "localhost", port, ca: pki.selfSigned.cert })
        expect(trusted.outcome).toBe("verified")
      }))

    withPeers(["openssl"], it.scoped)("a name the certificate does not cover: ERR_TLS_CERT_ALTNAME_INVALID", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-www"])
        const report = yield* Probe.probe({ host: "127.0.0.1", port, servername: "example.org", ca: pki.root.cert })
        expectValid(report)
        expect(report.outcome).toBe("unverified")
        expect(report.verification?.error?.code).toBe("ERR_TLS_CERT_ALTNAME_INVALID")
        expect(report.verification?.error?.advice).toContain("--servername")
      }))

    withPeers(["openssl"], it.scoped)("--min-version 1.3 against a TLS 1.2 server: TlsAlertError protocol_version, exit 4", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-tls1_2", "-www"])
        const report = yield* Probe.probe({ host: "localhost", port, ca: pki.root.cert, minVersion: "TLSv1.3" })
        expectValid(report)
        expect(report.exitCode).toBe(4)
        expect(report.error).toMatchObject({ tag: "TlsAlertError", code: "protocol_version", phase: "handshake" })
        expect(report.error?.advice).toContain("--min-version")
      }))

    withPeers(["openssl"], it.scoped)("a server that demands a client certificate: fails without one, verified with --cert/--key", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-tls1_2", "-Verify", "1", "-CAfile", pki.root.certFile, "-www"])
        const without = yield* Probe.probe({ host: "localhost", port, ca: pki.root.cert })
        expectValid(without)
        expect(without.outcome).toBe("failed")
        expect(without.exitCode).toBe(4)
        expect(without.error?.phase).toBe("handshake")
        const withCert = yield* Probe.probe({
          host: "localhost",
          port,
          ca: pki.root.cert,
          cert: pki.client.chain,
          key: pki.client.key
        })
        expect(withCert.outcome).toBe("verified")
      }))

    it.scoped("the schema check rejects what the schema does not allow (the validator is not vacuous)", () =>
      Effect.gen(function*() {
        const port = yield* freePort
        const report = yield* Probe.probe({ host: "127.0.0.1", port })
        expectValid(report)
        expect(validate(schema, { ...report, version: 2 })).not.toEqual([])
        expect(validate(schema, { ...report, extra: true })).not.toEqual([])
        expect(validate(schema, { ...report, exitCode: "5" })).not.toEqual([])
        expect(validate(schema, { ...report, error: { ...report.error, phase: "later" } })).not.toEqual([])
        const { timings: _, ...withoutTimings } = report
        expect(validate(schema, withoutTimings)).not.toEqual([])
      }))

    it.scoped("nothing listening: TlsTransportError ConnectRefused, exit 5", () =>
      Effect.gen(function*() {
        const port = yield* freePort
        const report = yield* Probe.probe({ host: "127.0.0.1", port })
        expectValid(report)
        expect(report.outcome).toBe("failed")
        expect(report.exitCode).toBe(5)
        expect(report.error).toMatchObject({ tag: "TlsTransportError", code: "ConnectRefused", phase: "connect" })
        expect(report.tls).toBeNull()
        expect(report.timings.handshakeMs).toBeNull()
      }))

    it.scoped("a bad PEM for --ca: TlsConfigError, exit 2, phase options", () =>
      Effect.gen(function*() {
        const listener = yield* NodeTransport.listen("127.0.0.1", 0)
        const report = yield* Probe.probe({ host: "127.0.0.1", port: listener.address.port, ca: "not a pem" })
        expectValid(report)
        expect(report.exitCode).toBe(2)
        expect(report.error).toMatchObject({ tag: "TlsConfigError", phase: "options" })
      }))

    it.scoped("STARTTLS smtp against a fake SMTP server (Tls.upgrade as server): verified, timed", () =>
      Effect.gen(function*() {
        const listener = yield* NodeTransport.listen("127.0.0.1", 0)
        yield* fakeSmtp(listener, { cert: pki.server.chain, key: pki.server.key })
        const report = yield* Probe.probe({
          host: "localhost",
          port: listener.address.port,
          ca: pki.root.cert,
          starttls: "smtp"
        })
        expectValid(report)
        expect(report.outcome).toBe("verified")
        expect(report.target.starttls).toBe("smtp")
        expect(report.tls?.protocol).toBe("TLSv1.3")
        expect(report.certificates[0]?.subject).toBe("O=effect-tls, CN=localhost")
        expect(report.timings.starttlsMs).toBeGreaterThanOrEqual(0)
        expect(Probe.render(report, false)).toContain("via smtp STARTTLS")
      }))

    for (const protocol of ["imap", "pop3", "ftp", "postgres"] as const) {
      it.scoped(`STARTTLS ${protocol} against a fake ${protocol} server: verified`, () =>
        Effect.gen(function*() {
          const listener = yield* NodeTransport.listen("127.0.0.1", 0)
          yield* fakeStartTls(listener, protocol, { cert: pki.server.chain, key: pki.server.key })
          const report = yield* Probe.probe({ host: "localhost", port: listener.address.port, ca: pki.root.cert, starttls: protocol })
          expectValid(report)
          expect(report.outcome, JSON.stringify(report.error)).toBe("verified")
          expect(report.target.starttls).toBe(protocol)
        }))
    }

    it.scoped("STARTTLS smtp against a server that does not offer it: StartTlsError, exit 6", () =>
      Effect.gen(function*() {
        const listener = yield* NodeTransport.listen("127.0.0.1", 0)
        yield* fakeSmtp(listener, { cert: pki.server.chain, key: pki.server.key, offerStartTls: false })
        const report = yield* Probe.probe({ host: "localhost", port: listener.address.port, starttls: "smtp" })
        expectValid(report)
        expect(report.exitCode).toBe(6)
        expect(report.error).toMatchObject({ tag: "StartTlsError", code: "smtp", phase: "starttls" })
        expect(report.error?.explanation).toContain("does not offer STARTTLS")
      }))

    withPeers(["openssl"], it.scoped)("a port that does not speak TLS first (SMTP without --starttls): handshake failure, exit 4", () =>
      Effect.gen(function*() {
        const listener = yield* NodeTransport.listen("127.0.0.1", 0)
        yield* fakeSmtp(listener, { cert: pki.server.chain, key: pki.server.key })
        const report = yield* Probe.probe({ host: "localhost", port: listener.address.port, timeoutMillis: 5_000 })
        expectValid(report)
        expect(report.outcome).toBe("failed")
        expect(report.exitCode).toBe(4)
        expect(report.error?.phase).toBe("handshake")
      }))
  })
})

describe("effect-tls probe (the built bin, Node)", () => {
  beforeAll(() => Effect.runPromise(buildCli), 300_000)
  layer(TlsPlatform.layerNode, { timeout: 60_000, excludeTestServices: true })((it) => {
    withPeers(["openssl"], it.scoped)("--json: trusted exit 0, untrusted exit 3, both valid against the schema", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-www"])
        const trusted = yield* run(process.execPath, [builtBin, "probe", `localhost:${port}`, "--ca", pki.root.certFile, "--json"])
        expect(trusted.stderr).toBe("")
        expect(trusted.code).toBe(0)
        const report = JSON.parse(trusted.stdout)
        expectValid(report)
        expect(report).toMatchObject({ version: 1, outcome: "verified", runtime: { name: "node" } })

        const untrusted = yield* run(process.execPath, [builtBin, "probe", `localhost:${port}`, "--json"])
        expect(untrusted.code).toBe(3)
        expect(untrusted.stderr).toBe("")
        const failed = JSON.parse(untrusted.stdout)
        expectValid(failed)
        expect(failed.verification.error.tag).toBe("TlsCertificateError")
      }))

    withPeers(["openssl"], it.scoped)("text output on a pipe has no colour; --alpn and --servername reach the server", () =>
      Effect.gen(function*() {
        const { port } = yield* sServer([...serverFiles, "-alpn", "h2", "-www"])
        const r = yield* run(process.execPath, [
          builtBin, "probe", `127.0.0.1:${port}`, "--servername", "localhost", "--alpn", "h2,http/1.1",
          "--ca", pki.root.certFile
        ])
        expect(r.code).toBe(0)
        expect(r.stdout).not.toContain("\u001b[")
        expect(r.stdout).toContain("(servername localhost)")
        expect(r.stdout).toMatch(/alpn +h2\n/)
        expect(r.stdout).toContain("verified     yes (localhost)")
      }))

    it.effect("--version prints the package's version; usage errors exit 2: a bad port, an unreadable --ca, an unknown --starttls", () =>
      Effect.gen(function*() {
        const version = yield* run(process.execPath, [builtBin, "--version"])
        expect(version.code).toBe(0)
        expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(new URL("../packages/cli/package.json", import.meta.url), "utf8")).version)
        const badPort = yield* run(process.execPath, [builtBin, "probe", "localhost:99999"])
        expect(badPort.code).toBe(2)
        expect(badPort.stderr).toContain("port out of range")
        const noFile = yield* run(process.execPath, [builtBin, "probe", "localhost:1", "--ca", "/nonexistent/ca.pem"])
        expect(noFile.code).toBe(2)
        expect(noFile.stderr).toContain("cannot read --ca /nonexistent/ca.pem")
        const badChoice = yield* run(process.execPath, [builtBin, "probe", "localhost", "--starttls", "gopher"])
        expect(badChoice.code).toBe(2)
      }))
  })
})
