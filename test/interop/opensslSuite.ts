/**
 * Interop with real peers, written once and run against every layer: the
 * `openssl` CLI (OpenSSL's own s_server and s_client) in both roles, and
 * `gnutls-cli` against a virtual-hosting server (skipped, with a note, where
 * gnutls-cli is not installed).
 */
import { describe, expect, layer } from "@effect/vitest"
import * as SniResolver from "@effect-tls/core/SniResolver"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import { Effect, type Layer, Option, Stream } from "effect"
import { afterAll } from "vitest"
import { failureOf } from "../conformance/support.js"
import { generatePki } from "../src/pki.js"
import { sServer, spawnPeer, withPeers } from "./peers.js"
import { readUntil } from "../src/reading.js"

export interface InteropOptions {
  /**
   * What the client reads when the server drops the socket without
   * close_notify: `TlsUnexpectedEof` (default), or a clean end on paths
   * that cannot tell (documented in the README's runtime table).
   */
  readonly truncation?: "detected" | "cleanEnd" | undefined
  /** Options every connection gets (`allowTruncation`: the runtime's native path). */
  readonly common?: Partial<TlsOptions.CommonOptions>
}

export const opensslInterop = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, options: InteropOptions = {}) => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const common = options.common ?? {}
  const truncation = common.allowTruncation === true ? "cleanEnd" : options.truncation

  // s_server sends only the first certificate of -cert; the intermediate goes in -cert_chain.
  const serverFiles = ["-cert", pki.server.certFile, "-key", pki.server.keyFile, "-cert_chain", pki.intermediate.certFile]


  const echo = (c: TlsConnection) => Stream.run(c.stream, c.sink)

  describe(`interop with the openssl CLI and gnutls-cli: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      describe("our client, openssl s_server", () => {
        it.scoped("TLS 1.3 handshake, verified, data both ways", () =>
          Effect.gen(function*() {
            const { port } = yield* sServer([...serverFiles, "-rev"])
            const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
            expect(c.info.protocol).toBe("TLSv1.3")
            expect(c.info.authorized).toBe(true)
            expect(Option.getOrThrow(c.info.peerCertificate).subject.CN).toBe("localhost")
            yield* c.write("hello effect-tls\n")
            expect(yield* readUntil(c, "slt-tceffe olleh")).toContain("slt-tceffe olleh")
          }))

        it.scoped("ALPN: the server picks by its own preference", () =>
          Effect.gen(function*() {
            const { port } = yield* sServer([...serverFiles, "-rev", "-alpn", "h2,http/1.1"])
            const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert, alpnProtocols: ["http/1.1", "h2"] })
            expect(c.info.alpnProtocol).toEqual(Option.some("h2"))
          }))

        it.scoped("TLS 1.2 when the server allows no more", () =>
          Effect.gen(function*() {
            const { port } = yield* sServer([...serverFiles, "-rev", "-tls1_2"])
            const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
            expect(c.info.protocol).toBe("TLSv1.2")
            yield* c.write("abc\n")
            expect(yield* readUntil(c, "cba")).toContain("cba")
          }))

        it.scoped("mutual TLS: a client certificate the server trusts", () =>
          Effect.gen(function*() {
            const { port, peer } = yield* sServer([...serverFiles, "-rev", "-Verify", "1", "-CAfile", pki.root.certFile])
            const c = yield* Tls.connect({
              ...common,
              host: "localhost",
              port,
              ca: pki.root.cert,
              cert: pki.client.chain,
              key: pki.client.key
            })
            yield* c.write("mutual\n")
            expect(yield* readUntil(c, "lautum")).toContain("lautum")
            yield* peer.said(/CN ?= ?test client/).pipe(Effect.timeout("10 seconds"), Effect.orDie)
            expect(peer.stdout() + peer.stderr()).toMatch(/CN ?= ?test client/)
          }))

        it.scoped("mutual TLS: no client certificate gives the client a typed alert", () =>
          Effect.gen(function*() {
            const { port } = yield* sServer([...serverFiles, "-rev", "-Verify", "1", "-CAfile", pki.root.certFile])
            const failure = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert }).pipe(
              Effect.flatMap((c) => c.read),
              Effect.flip
            )
            expect(failure).toMatchObject({ _tag: "TlsAlertError", alert: "certificate_required", direction: "received" })
          }))

        it.scoped("reads Option.none() after the server's close_notify", () =>
          Effect.gen(function*() {
            const { port } = yield* sServer([...serverFiles, "-rev"])
            const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
            // In -rev mode a line "CLOSE" makes s_server shut the session down.
            yield* c.write("CLOSE\n")
            let next = yield* c.read
            while (Option.isSome(next)) next = yield* c.read
            expect(next).toEqual(Option.none())
          }))

        it.scoped(
          truncation === "cleanEnd"
            ? "documented: the server dropping the socket without close_notify reads as a clean end"
            : "reports truncation when the server drops the socket without close_notify",
          () =>
            Effect.gen(function*() {
              const { port, peer } = yield* sServer([...serverFiles])
              const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
              yield* peer.printed("CIPHER is")
              // A line "Q" on s_server's stdin closes the TCP socket at once.
              yield* peer.write("Q\n")
              const exit = yield* Effect.exit(Effect.repeat(c.read, { while: Option.isSome }))
              if (truncation === "cleanEnd") expect(exit).toMatchObject({ _tag: "Success", value: Option.none() })
              else expect(failureOf(exit)).toMatchObject({ _tag: "TlsUnexpectedEof", phase: "read" })
            })
        )

        it.scoped("a server that does not send its intermediate is rejected", () =>
          Effect.gen(function*() {
            const { port } = yield* sServer(["-cert", pki.server.certFile, "-key", pki.server.keyFile])
            const failure = yield* Effect.flip(Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert }))
            expect(failure).toMatchObject({ _tag: "TlsCertificateError", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" })
          }))

        it.scoped("a server that names another host is rejected", () =>
          Effect.gen(function*() {
            const { port } = yield* sServer([
              "-cert", pki.wrongHost.certFile, "-key", pki.wrongHost.keyFile, "-cert_chain", pki.intermediate.certFile
            ])
            const failure = yield* Effect.flip(Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert }))
            expect(failure).toMatchObject({ _tag: "TlsCertificateError", code: "ERR_TLS_CERT_ALTNAME_INVALID" })
          }))
      })

      describe("openssl s_client, our server", () => {
        const ourServer = (handler: (c: TlsConnection) => Effect.Effect<unknown, unknown>, alpn = ["h2", "http/1.1"]) =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({
              ...common,
              host: "127.0.0.1",
              port: 0,
              cert: pki.server.chain,
              key: pki.server.key,
              alpnProtocols: alpn
            })
            yield* Effect.forkScoped(server.serve(handler))
            return server.address.port
          })

        const sClient = (port: number, extra: ReadonlyArray<string> = []) =>
          spawnPeer("openssl", [
            "s_client",
            "-connect",
            `127.0.0.1:${port}`,
            "-servername",
            "localhost",
            "-CAfile",
            pki.root.certFile,
            ...extra
          ])

        it.scoped("sees our certificate, ALPN and verified chain, and gets its data echoed", () =>
          Effect.gen(function*() {
            const port = yield* ourServer(echo)
            const client = yield* sClient(port, ["-alpn", "h2", "-ign_eof"])
            yield* client.printed("Verify return code")
            yield* client.write("ping from openssl\n")
            yield* client.printed("ping from openssl")
            const out = client.stdout()
            expect(out).toMatch(/subject=O ?= ?effect-tls, CN ?= ?localhost/)
            expect(out).toContain("ALPN protocol: h2")
            expect(out).toContain("Verify return code: 0 (ok)")
            expect(out).toMatch(/New, TLSv1\.3, Cipher is TLS_/)
          }))

        it.scoped("negotiates TLS 1.2 with a client limited to it", () =>
          Effect.gen(function*() {
            const port = yield* ourServer(echo)
            const client = yield* sClient(port, ["-tls1_2", "-ign_eof"])
            yield* client.printed("Verify return code")
            expect(client.stdout()).toMatch(/New, TLSv1\.2, Cipher is ECDHE-ECDSA-/)
            expect(client.stdout()).toMatch(/Protocol +: TLSv1\.2/)
          }))

        it.scoped("our close_notify ends s_client's session cleanly", () =>
          Effect.gen(function*() {
            const port = yield* ourServer((c) => c.write("bye\n"))
            const client = yield* sClient(port)
            const code = yield* client.exited
            expect(client.stdout()).toContain("bye")
            expect(code).toBe(0)
          }))

        it.scoped("a client that offers no protocol we speak gets no_application_protocol", () =>
          Effect.gen(function*() {
            const port = yield* ourServer(echo, ["h2"])
            const client = yield* sClient(port, ["-alpn", "spdy/1"])
            const code = yield* client.exited
            expect(code).not.toBe(0)
            expect(client.stderr()).toMatch(/no application protocol/)
          }))
      })

      describe("virtual hosting: openssl s_client and gnutls-cli, our server with SniResolver", () => {
        const virtualHosts = SniResolver.layerRecord(
          {
            "exact.test": { cert: pki.exact.chain, key: pki.exact.key },
            "*.wild.test": { cert: pki.wildcard.chain, key: pki.wildcard.key }
          },
          { strict: true, fallback: { cert: pki.server.chain, key: pki.server.key } }
        )
        const vhostServer = Effect.gen(function*() {
          const server = yield* Tls.listen({
              ...common,
            host: "127.0.0.1",
            port: 0,
            cert: pki.server.chain,
            key: pki.server.key,
            alpnProtocols: ["h2", "http/1.1"]
          }).pipe(Effect.provide(virtualHosts))
          yield* Effect.forkScoped(server.serve(echo))
          return server.address.port
        })
        const sClient = (port: number, servername: string, extra: ReadonlyArray<string> = []) =>
          spawnPeer("openssl", [
            "s_client", "-connect", `127.0.0.1:${port}`, "-servername", servername, "-CAfile", pki.root.certFile,
            "-verify_hostname", servername, ...extra
          ])

        for (const [servername, cn] of [["exact.test", "exact.test"], ["api.wild.test", "\\*\\.wild\\.test"]] as const) {
          it.scoped(`s_client -servername ${servername} -alpn h2,http/1.1 sees that name's certificate and h2`, () =>
            Effect.gen(function*() {
              const port = yield* vhostServer
              const client = yield* sClient(port, servername, ["-alpn", "h2,http/1.1", "-ign_eof"])
              yield* client.printed("Verify return code")
              yield* client.write("ping\n")
              yield* client.printed("ping")
              const out = client.stdout()
              expect(out).toMatch(new RegExp(`subject=O ?= ?effect-tls, CN ?= ?${cn}`))
              expect(out).toContain("ALPN protocol: h2")
              expect(out).toContain("Verify return code: 0 (ok)")
            }))
        }

        it.scoped("a ClientHello fragmented over several records (s_client -max_send_frag 512) is reassembled", () =>
          Effect.gen(function*() {
            const port = yield* vhostServer
            // 60 long protocol names make the hello ~1.5 KB: at least three records of 512 bytes.
            const filler = Array.from({ length: 60 }, (_, i) => `filler-protocol-${String(i).padStart(3, "0")}`)
            const client = yield* sClient(port, "exact.test", [
              "-max_send_frag", "512", "-alpn", [...filler, "http/1.1"].join(","), "-ign_eof"
            ])
            yield* client.printed("Verify return code")
            yield* client.write("fragmented\n")
            yield* client.printed("fragmented")
            const out = client.stdout()
            expect(out).toMatch(/subject=O ?= ?effect-tls, CN ?= ?exact\.test/)
            expect(out).toContain("ALPN protocol: http/1.1")
          }))

        it.scoped("s_client with an unknown name gets the unrecognized_name alert (strict)", () =>
          Effect.gen(function*() {
            const port = yield* vhostServer
            const client = yield* sClient(port, "nobody.test")
            const code = yield* client.exited
            expect(code).not.toBe(0)
            expect(client.stderr()).toMatch(/unrecognized name/)
          }))

        withPeers(["gnutls-cli"], it.scoped)("gnutls-cli --sni-hostname exact.test --alpn http/1.1 sees that name's certificate and protocol", () =>
          Effect.gen(function*() {
            const port = yield* vhostServer
            const client = yield* spawnPeer("gnutls-cli", [
              "-p", String(port), "--x509cafile", pki.root.certFile, "--sni-hostname", "exact.test",
              "--verify-hostname", "exact.test", "--alpn", "http/1.1", "127.0.0.1"
            ])
            yield* client.printed("Handshake was completed")
            yield* client.write("gnutls ping\n")
            yield* client.printed("gnutls ping")
            const out = client.stdout()
            expect(out).toMatch(/Certificate\[0\] info:\n - subject `CN=exact\.test,O=effect-tls'/)
            expect(out).toMatch(/Application protocol: http\/1\.1/)
            expect(out).toContain("Status: The certificate is trusted")
            expect(out).toMatch(/\(TLS1\.3-X\.509\)/)
          }))
      })
    })
  })
}
