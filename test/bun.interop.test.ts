/**
 * Interop with real OpenSSL peers (`openssl s_server`, `openssl s_client`)
 * from inside Bun, against both of BunTls's paths: Bun's native TLS
 * sockets (`BunTls.layer`) and the sans-IO engine (`BunTls.layerSansIo`).
 * The same cases as test/interop/openssl-cli.test.ts for Node, except
 * where a path's documented behaviour differs (truncation on the native
 * path, pinned here).
 */
import { describe, expect, layer } from "@effect/vitest"
import * as BunTls from "@effect-tls/bun/BunTls"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import { Effect, type Layer, Option, Stream } from "effect"
import { afterAll, it as vitestIt } from "vitest"
import { sServer, spawnPeer } from "./interop/peers.js"
import { generatePki } from "./src/pki.js"

const onBun = "Bun" in globalThis

const readUntil = (c: TlsConnection, text: string) =>
  Effect.gen(function*() {
    let got = ""
    while (!got.includes(text)) {
      const chunk = yield* c.read
      if (Option.isNone(chunk)) break
      got += Buffer.from(chunk.value).toString()
    }
    return got
  })

const echo = (c: TlsConnection) => Stream.run(c.stream, c.sink)

const paths: ReadonlyArray<readonly [string, Layer.Layer<Tls.Tls>, "native" | "sansIo"]> = [
  ["BunTls.layer (native)", BunTls.layer, "native"],
  ["BunTls.layerSansIo", BunTls.layerSansIo, "sansIo"]
]

describe.runIf(onBun)("interop with the openssl CLI, inside Bun", () => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const serverFiles = ["-cert", pki.server.certFile, "-key", pki.server.keyFile, "-cert_chain", pki.intermediate.certFile]

  for (const [name, tlsLayer, path] of paths) {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })(name, (it) => {
      it.scoped("our client, s_server: TLS 1.3, verified, ALPN by the server's preference, data both ways", () =>
        Effect.gen(function*() {
          const { port } = yield* sServer([...serverFiles, "-rev", "-alpn", "h2,http/1.1"])
          const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert, alpnProtocols: ["http/1.1", "h2"] })
          expect(c.info.protocol).toBe("TLSv1.3")
          expect(c.info.authorized).toBe(true)
          expect(c.info.alpnProtocol).toEqual(Option.some("h2"))
          yield* c.write("hello effect-tls\n")
          expect(yield* readUntil(c, "slt-tceffe olleh")).toContain("slt-tceffe olleh")
        }))

      it.scoped("our client, s_server limited to TLS 1.2", () =>
        Effect.gen(function*() {
          const { port } = yield* sServer([...serverFiles, "-rev", "-tls1_2"])
          const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
          expect(c.info.protocol).toBe("TLSv1.2")
          yield* c.write("abc\n")
          expect(yield* readUntil(c, "cba")).toContain("cba")
        }))

      it.scoped("our client without a certificate, s_server demanding one: certificate_required", () =>
        Effect.gen(function*() {
          const { port } = yield* sServer([...serverFiles, "-rev", "-Verify", "1", "-CAfile", pki.root.certFile])
          const failure = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert }).pipe(
            Effect.flatMap((c) => c.read),
            Effect.flip
          )
          expect(failure).toMatchObject({ _tag: "TlsAlertError", alert: "certificate_required", direction: "received" })
        }))

      it.scoped("our client reads None after s_server's close_notify", () =>
        Effect.gen(function*() {
          const { port } = yield* sServer([...serverFiles, "-rev"])
          const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
          yield* c.write("CLOSE\n")
          let next = yield* c.read
          while (Option.isSome(next)) next = yield* c.read
          expect(next).toEqual(Option.none())
        }))

      it.scoped(
        path === "native"
          ? "documented: s_server dropping the socket without close_notify reads as a clean end"
          : "s_server dropping the socket without close_notify is TlsUnexpectedEof",
        () =>
          Effect.gen(function*() {
            const { port, peer } = yield* sServer([...serverFiles])
            const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
            yield* peer.printed("CIPHER is")
            yield* peer.write("Q\n")
            const exit = yield* Effect.exit(Effect.repeat(c.read, { while: Option.isSome }))
            if (path === "native") expect(exit).toMatchObject({ _tag: "Success", value: Option.none() })
            else expect(JSON.stringify(exit)).toContain("TlsUnexpectedEof")
          })
      )

      it.scoped("our client rejects s_server without its intermediate, and with another host's name", () =>
        Effect.gen(function*() {
          const bare = yield* sServer(["-cert", pki.server.certFile, "-key", pki.server.keyFile])
          expect(yield* Effect.flip(Tls.connect({ host: "localhost", port: bare.port, ca: pki.root.cert }))).toMatchObject(
            { _tag: "TlsCertificateError", code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE" }
          )
          const other = yield* sServer([
            "-cert", pki.wrongHost.certFile, "-key", pki.wrongHost.keyFile, "-cert_chain", pki.intermediate.certFile
          ])
          expect(yield* Effect.flip(Tls.connect({ host: "localhost", port: other.port, ca: pki.root.cert })))
            .toMatchObject({ _tag: "TlsCertificateError", code: "ERR_TLS_CERT_ALTNAME_INVALID" })
        }))

      const ourServer = (handler: (c: TlsConnection) => Effect.Effect<unknown, unknown>, alpn = ["h2", "http/1.1"]) =>
        Effect.gen(function*() {
          const server = yield* Tls.listen({
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
          "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-CAfile", pki.root.certFile, ...extra
        ])

      it.scoped("s_client, our server: our certificate, ALPN h2, verified chain, data echoed", () =>
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

      it.scoped("s_client, our server: our close_notify ends its session cleanly", () =>
        Effect.gen(function*() {
          const port = yield* ourServer((c) => c.write("bye\n"))
          const client = yield* sClient(port)
          const code = yield* client.exited
          expect(client.stdout()).toContain("bye")
          expect(code).toBe(0)
        }))

      it.scoped("s_client offering no protocol we speak gets no_application_protocol", () =>
        Effect.gen(function*() {
          const port = yield* ourServer(echo, ["h2"])
          const client = yield* sClient(port, ["-alpn", "spdy/1"])
          const code = yield* client.exited
          expect(code).not.toBe(0)
          expect(client.stderr()).toMatch(/no application protocol/)
        }))
    })
  }
})

describe.skipIf(onBun)("interop with the openssl CLI, inside Bun", () => {
  vitestIt.skip("runs only inside Bun (npm test's Bun run)", () => {})
})
