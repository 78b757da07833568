/**
 * `effect-tls` inside Bun (smoke): the command's Effect with the runtime
 * chosen automatically (`TlsPlatform.layer` picks BunTls), and the bin run
 * from source by Bun (`bun packages/cli/src/bin.ts`): probe against
 * `openssl s_server` (trusted and untrusted, JSON valid against the schema),
 * STARTTLS SMTP against the fake server, serve (routing, PROXY v2, reload,
 * drain), and the demo.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Probe, Serve, TlsPlatform } from "@effect-tls/cli"
import * as Tls from "@effect-tls/core/Tls"
import * as BunTransport from "@effect-tls/bun/BunTransport"
import { Effect, Option } from "effect"
import { readFileSync } from "node:fs"
import { afterAll, it as vitestIt } from "vitest"
import { sServer, withPeers } from "./interop/peers.js"
import { fakeSmtp, run, sourceBin, spawnServe, tcpBackend } from "./src/cliPeers.js"
import { validate } from "./src/jsonSchema.js"
import { generatePki } from "./src/pki.js"

const onBun = "Bun" in globalThis

if (onBun) {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const schema = JSON.parse(readFileSync(new URL("../packages/cli/schema/probe.v1.json", import.meta.url), "utf8"))
  const serverFiles = ["-cert", pki.server.certFile, "-key", pki.server.keyFile, "-cert_chain", pki.intermediate.certFile]

  describe("effect-tls inside Bun", () => {
    layer(TlsPlatform.layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("TlsPlatform.layer picks Bun", () =>
        Effect.gen(function*() {
          const platform = yield* TlsPlatform.TlsPlatform
          expect(platform.name).toBe("bun")
        }))

      withPeers(["openssl"], it.scoped)("probe (Effect): TLS 1.3 and 1.2, trusted and untrusted", () =>
        Effect.gen(function*() {
          for (const version of ["-tls1_3", "-tls1_2"]) {
            const { port } = yield* sServer([...serverFiles, version, "-www"])
            const trusted = yield* Probe.probe({ host: "localhost", port, ca: pki.root.cert })
            expect(validate(schema, trusted)).toEqual([])
            expect(trusted.outcome).toBe("verified")
            expect(trusted.runtime.name).toBe("bun")
            expect(trusted.tls?.protocol).toBe(version === "-tls1_3" ? "TLSv1.3" : "TLSv1.2")
            expect(trusted.certificates[0]).toMatchObject({ subject: "O=effect-tls, CN=localhost", keyType: "ec", keyBits: 256 })
            const untrusted = yield* Probe.probe({ host: "localhost", port })
            expect(validate(schema, untrusted)).toEqual([])
            expect(untrusted.exitCode).toBe(3)
            expect(untrusted.verification?.error?.tag).toBe("TlsCertificateError")
          }
        }))

      it.scoped("probe (Effect): STARTTLS smtp against the fake SMTP server", () =>
        Effect.gen(function*() {
          const listener = yield* BunTransport.listen("127.0.0.1", 0)
          yield* fakeSmtp(listener, { cert: pki.server.chain, key: pki.server.key })
          const report = yield* Probe.probe({ host: "localhost", port: listener.address.port, ca: pki.root.cert, starttls: "smtp" })
          expect(validate(schema, report)).toEqual([])
          expect(report.outcome).toBe("verified")
        }))

      it.scoped("serve (Effect): routed per name to a TCP backend, reload keeps the open connection, drain", () =>
        Effect.gen(function*() {
          const backend = yield* tcpBackend(yield* BunTransport.listen("127.0.0.1", 0), "B", { proxy: true })
          const t = yield* Serve.start({
            listen: { host: "127.0.0.1", port: 0 },
            sni: [["localhost", { certFile: pki.server.chainFile, keyFile: pki.server.keyFile }]],
            routes: [{ name: "localhost", backend: backend.address }],
            proxyProtocol: true,
            log: () => Effect.void
          })
          const c = yield* Tls.connect({ host: "localhost", port: t.address.port, ca: pki.root.cert })
          yield* c.write("hi")
          expect(Buffer.from(Option.getOrThrow(yield* c.read)).toString()).toBe("B:hi")
          expect(backend.headers[0]).toMatchObject({ command: "PROXY", authority: "localhost" })
          expect(yield* t.reload).toEqual({ ok: true, names: ["localhost"] })
          yield* c.write("again")
          expect(Buffer.from(Option.getOrThrow(yield* c.read)).toString()).toBe("B:again")
          yield* c.shutdown
          expect(yield* c.read).toEqual(Option.none())
          yield* t.drain
        }))

      withPeers(["openssl"], it.scoped)("the bin from source under Bun: probe --json exit 0 and 3", () =>
        Effect.gen(function*() {
          const { port } = yield* sServer([...serverFiles, "-www"])
          const ok = yield* run(process.execPath, [sourceBin, "probe", `localhost:${port}`, "--ca", pki.root.certFile, "--json"])
          expect(ok.code).toBe(0)
          const report = JSON.parse(ok.stdout)
          expect(validate(schema, report)).toEqual([])
          expect(report.runtime.name).toBe("bun")
          const bad = yield* run(process.execPath, [sourceBin, "probe", `localhost:${port}`, "--json"])
          expect(bad.code).toBe(3)
        }))

      it.scoped("the bin from source under Bun: serve reloads on SIGHUP and drains on SIGTERM (exit 0)", () =>
        Effect.gen(function*() {
          const backend = yield* tcpBackend(yield* BunTransport.listen("127.0.0.1", 0), "B")
          const serve = yield* spawnServe(process.execPath, [
            sourceBin, "serve", "--listen", "127.0.0.1:0", "--sni", `localhost=${pki.server.chainFile},${pki.server.keyFile}`,
            "--backend", `127.0.0.1:${backend.address.port}`
          ])
          const port = yield* serve.port
          const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
          yield* c.write("hi")
          expect(Buffer.from(Option.getOrThrow(yield* c.read)).toString()).toBe("B:hi")
          serve.signal("SIGHUP")
          yield* serve.seen("reload")
          serve.signal("SIGTERM")
          yield* serve.seen("draining")
          const refused = yield* Effect.flip(Effect.scoped(Tls.connect({ host: "localhost", port, ca: pki.root.cert })))
          expect(refused._tag).toBe("TlsTransportError")
          yield* c.write("draining")
          expect(Buffer.from(Option.getOrThrow(yield* c.read)).toString()).toBe("B:draining")
          yield* c.shutdown
          expect(yield* c.read).toEqual(Option.none())
          expect(yield* serve.exited, serve.output()).toBe(0)
          expect(serve.lines().map((l) => l.event)).toEqual(["listening", "reload", "draining", "connection", "stopped"])
        }))

      withPeers(["openssl"], it.effect)("the bin from source under Bun: demo", () =>
        Effect.gen(function*() {
          const r = yield* run(process.execPath, [sourceBin, "demo"])
          expect(r.code).toBe(0)
          expect(r.stdout).toContain(`got "HELLO OVER TLS"`)
        }))
    })
  })
} else {
  describe("effect-tls inside Bun", () => {
    vitestIt.skip("runs only inside Bun (npm test's Bun run)", () => {})
  })
}
