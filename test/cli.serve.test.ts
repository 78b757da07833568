/**
 * `effect-tls serve` end to end on Node: our client and `openssl s_client`
 * through the terminator to plain TCP backends (test/src/cliPeers.ts),
 * routing per server name and per ALPN, PROXY protocol v2 parsed by the
 * backend, client certificates, a certificate reload during an open
 * connection, a drain; then the real built bin with SIGHUP and SIGTERM.
 */
import { describe, expect, layer } from "@effect/vitest"
import { Serve, TlsPlatform } from "@effect-tls/cli"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import { Effect, Fiber, Option } from "effect"
import { copyFileSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll } from "vitest"
import { spawnPeer, withPeers } from "./interop/peers.js"
import { builtBin, buildCli, run, spawnServe, tcpBackend } from "./src/cliPeers.js"
import { makeCondition } from "./src/condition.js"
import { generatePki, issueLeaf, SERVER_EXT } from "./src/pki.js"
import { readUntil } from "./src/reading.js"

const pki = generatePki()
afterAll(() => pki.cleanup())
const files = (pair: { chainFile: string; keyFile: string }) => ({ certFile: pair.chainFile, keyFile: pair.keyFile })


/** Send `text`, expect `reply` back. */
const roundTrip = (c: TlsConnection, text: string, reply: string) =>
  Effect.gen(function*() {
    yield* c.write(text)
    expect(yield* readUntil(c, reply)).toBe(reply)
  })

const backendOn = (name: string, options: { proxy?: boolean } = {}) =>
  Effect.flatMap(NodeTransport.listen("127.0.0.1", 0), (l) => tcpBackend(l, name, options))

const fingerprintOf = (c: TlsConnection) => Option.getOrThrow(c.info.peerCertificate).fingerprint256

describe("effect-tls serve (Serve.start, Node)", () => {
  layer(TlsPlatform.layerNode, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.scoped("routes per server name, with the certificate of that name; the default backend otherwise", () =>
      Effect.gen(function*() {
        const [a, b, c] = [yield* backendOn("A"), yield* backendOn("B"), yield* backendOn("C")]
        const logs: Array<Record<string, unknown>> = []
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [["exact.test", files(pki.exact)], ["*.wild.test", files(pki.wildcard)]],
          defaultCertificate: files(pki.server),
          routes: [
            { name: "exact.test", backend: a.address },
            { name: "*.wild.test", backend: b.address }
          ],
          defaultBackend: c.address,
          log: (entry) => Effect.sync(() => logs.push(entry))
        })
        const port = t.address.port
        const toExact = yield* Tls.connect({ host: "127.0.0.1", port, servername: "exact.test", ca: pki.root.cert })
        yield* roundTrip(toExact, "one", "A:one")
        const toWild = yield* Tls.connect({ host: "127.0.0.1", port, servername: "x.wild.test", ca: pki.root.cert })
        yield* roundTrip(toWild, "two", "B:two")
        const toDefault = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
        yield* roundTrip(toDefault, "three", "C:three")
        expect(Option.getOrThrow(toExact.info.peerCertificate).subject.CN).toBe("exact.test")
        expect(Option.getOrThrow(toWild.info.peerCertificate).subject.CN).toBe("*.wild.test")
        expect(Option.getOrThrow(toDefault.info.peerCertificate).subject.CN).toBe("localhost")
        // A client's close_notify half-closes the backend, whose end comes back as close_notify.
        yield* toExact.shutdown
        expect(yield* toExact.read).toEqual(Option.none())
        expect(logs[0]).toMatchObject({ event: "listening", names: ["exact.test", "*.wild.test"] })
      }))

    it.scoped("routes per ALPN within a name; the protocol is negotiated from the routes", () =>
      Effect.gen(function*() {
        const [h2, http1] = [yield* backendOn("H2"), yield* backendOn("H1")]
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [["localhost", files(pki.server)]],
          routes: [
            { name: "localhost", alpn: "h2", backend: h2.address },
            { name: "*", alpn: "http/1.1", backend: http1.address }
          ],
          log: () => Effect.void
        })
        const port = t.address.port
        const viaH2 = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert, alpnProtocols: ["h2"] })
        expect(viaH2.info.alpnProtocol).toEqual(Option.some("h2"))
        yield* roundTrip(viaH2, "x", "H2:x")
        const viaHttp1 = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert, alpnProtocols: ["http/1.1"] })
        yield* roundTrip(viaHttp1, "y", "H1:y")
      }))

    it.scoped("PROXY protocol v2: the backend gets the client's address, ours, the ALPN protocol and the name", () =>
      Effect.gen(function*() {
        const backend = yield* backendOn("P", { proxy: true })
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [["localhost", files(pki.server)]],
          routes: [{ name: "localhost", alpn: "h2", backend: backend.address }],
          proxyProtocol: true,
          log: () => Effect.void
        })
        const c = yield* Tls.connect({ host: "localhost", port: t.address.port, ca: pki.root.cert, alpnProtocols: ["h2"] })
        yield* roundTrip(c, "after the header", "P:after the header")
        expect(backend.headers).toHaveLength(1)
        expect(backend.headers[0]).toMatchObject({
          command: "PROXY",
          source: { host: "127.0.0.1" },
          destination: { host: "127.0.0.1", port: t.address.port },
          alpn: "h2",
          authority: "localhost"
        })
        expect(backend.headers[0]!.source!.port).toBeGreaterThan(0)
      }))

    it.scoped("--client-ca: a client without a certificate is refused; one with a certificate gets through, logged", () =>
      Effect.gen(function*() {
        const backend = yield* backendOn("M")
        const logs: Array<Record<string, unknown>> = []
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [["localhost", files(pki.server)]],
          routes: [],
          defaultBackend: backend.address,
          clientCaFile: pki.root.certFile,
          log: (entry) => Effect.sync(() => logs.push(entry))
        })
        const port = t.address.port
        // TLS 1.3: the client learns of the refusal on its first read.
        const refused = yield* Effect.flip(Effect.scoped(Effect.gen(function*() {
          const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
          yield* c.write("x")
          return yield* c.read
        })))
        expect(refused._tag).toMatch(/TlsAlertError|TlsUnexpectedEof|TlsTransportError/)
        const c = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert, cert: pki.client.chain, key: pki.client.key })
        yield* roundTrip(c, "mtls", "M:mtls")
        yield* c.shutdown
        expect(yield* c.read).toEqual(Option.none())
        yield* t.drain
        const line = logs.find((l) => l.event === "connection")
        expect(line).toMatchObject({ clientCertificate: "test client", outcome: "closed", bytesFromClient: 4, bytesToClient: 6 })
      }))

    it.scoped("reload: an open connection keeps working; a new one gets the new certificate; a bad reload keeps the old set", () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "effect-tls-serve-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        copyFileSync(pki.server.chainFile, join(dir, "localhost.pem"))
        copyFileSync(pki.server.keyFile, join(dir, "localhost.key"))
        copyFileSync(pki.wildcard.chainFile, join(dir, "_wildcard.wild.test.pem"))
        copyFileSync(pki.wildcard.keyFile, join(dir, "_wildcard.wild.test.key"))
        const backend = yield* backendOn("R")
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [],
          sniDirectory: dir,
          routes: [],
          defaultBackend: backend.address,
          log: () => Effect.void
        })
        const port = t.address.port
        const before = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
        yield* roundTrip(before, "a", "R:a")
        const oldPrint = fingerprintOf(before)
        const wild = yield* Tls.connect({ host: "127.0.0.1", port, servername: "a.wild.test", ca: pki.root.cert })
        expect(Option.getOrThrow(wild.info.peerCertificate).subject.CN).toBe("*.wild.test")
        yield* wild.shutdown

        const renewed = issueLeaf(pki, "renewed", "/O=effect-tls/CN=localhost", SERVER_EXT)
        copyFileSync(renewed.chainFile, join(dir, "localhost.pem"))
        copyFileSync(renewed.keyFile, join(dir, "localhost.key"))
        expect(yield* t.reload).toEqual({ ok: true, names: ["*.wild.test", "localhost"] })

        yield* roundTrip(before, "b", "R:b")
        const after = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
        expect(fingerprintOf(after)).not.toBe(oldPrint)
        expect(fingerprintOf(after)).toBe(Option.getOrThrow(after.info.peerCertificate).fingerprint256)
        yield* roundTrip(after, "c", "R:c")

        // A key that does not match its certificate: rejected, the current set stays.
        copyFileSync(pki.client.keyFile, join(dir, "localhost.key"))
        const bad = yield* t.reload
        expect(bad.ok).toBe(false)
        const still = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
        expect(fingerprintOf(still)).toBe(fingerprintOf(after))
        yield* roundTrip(before, "d", "R:d")
        expect(yield* t.active).toBe(3)
      }))

    it.scoped("drain: new clients are refused, an open connection goes on until it closes; the drain then completes", () =>
      Effect.gen(function*() {
        const backend = yield* backendOn("D")
        const logs: Array<Record<string, unknown>> = []
        const { notify, until } = makeCondition()
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [["localhost", files(pki.server)]],
          routes: [],
          defaultBackend: backend.address,
          log: (entry) =>
            Effect.sync(() => {
              logs.push(entry)
              notify()
            })
        })
        const c = yield* Tls.connect({ host: "localhost", port: t.address.port, ca: pki.root.cert })
        yield* roundTrip(c, "1", "D:1")
        const draining = yield* Effect.fork(t.drain)
        yield* until(() => logs.some((l) => l.event === "draining"))
        // The listening socket is closed: a new client is refused.
        const refused = yield* Effect.flip(Effect.scoped(Tls.connect({ host: "localhost", port: t.address.port, ca: pki.root.cert })))
        expect(refused).toMatchObject({ _tag: "TlsTransportError", reason: "ConnectRefused" })
        yield* roundTrip(c, "2", "D:2")
        expect(draining.unsafePoll()).toBeNull()
        yield* c.shutdown
        expect(yield* c.read).toEqual(Option.none())
        yield* Fiber.join(draining)
        yield* t.done
        expect(logs.map((l) => l.event)).toEqual(["listening", "draining", "connection", "stopped"])
      }))

    it.scoped("drain with --drain-timeout 0: open connections are closed at once", () =>
      Effect.gen(function*() {
        const backend = yield* backendOn("Z")
        const logs: Array<Record<string, unknown>> = []
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [["localhost", files(pki.server)]],
          routes: [],
          defaultBackend: backend.address,
          drainTimeoutMillis: 0,
          log: (entry) => Effect.sync(() => logs.push(entry))
        })
        const c = yield* Tls.connect({ host: "localhost", port: t.address.port, ca: pki.root.cert })
        yield* roundTrip(c, "1", "Z:1")
        yield* t.drain
        expect(logs.find((l) => l.event === "connection")).toMatchObject({ outcome: "stopped" })
        const end = yield* Effect.either(c.read)
        expect(end._tag === "Left" || Option.isNone(end.right)).toBe(true)
      }))

    withPeers(["openssl"], it.scoped)("openssl s_client through serve: verified certificate of the name, routed", () =>
      Effect.gen(function*() {
        const a = yield* backendOn("A")
        const t = yield* Serve.start({
          listen: { host: "127.0.0.1", port: 0 },
          sni: [["exact.test", files(pki.exact)], ["localhost", files(pki.server)]],
          routes: [{ name: "exact.test", alpn: "h2", backend: a.address }],
          log: () => Effect.void
        })
        const client = yield* spawnPeer("openssl", [
          "s_client", "-connect", `127.0.0.1:${t.address.port}`, "-servername", "exact.test", "-alpn", "h2",
          "-CAfile", pki.root.certFile, "-verify_return_error"
        ])
        yield* client.printed("Verify return code: 0 (ok)")
        yield* client.printed("ALPN protocol: h2")
        yield* client.write("from s_client\n")
        yield* client.printed("A:from s_client")
        expect(client.stdout()).toMatch(/subject=.*CN ?= ?exact\.test/)
      }))
  })
})

describe("effect-tls serve (the built bin, Node)", () => {
  beforeAll(() => Effect.runPromise(buildCli), 300_000)
  layer(TlsPlatform.layerNode, { timeout: 60_000, excludeTestServices: true })((it) => {
    it.effect("usage errors exit 2: no route nor backend, a bad --sni or --route, a missing file, a zero limit", () =>
      Effect.gen(function*() {
        const sni = `localhost=${pki.server.chainFile},${pki.server.keyFile}`
        const cases: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
          [["--sni", sni], "give at least one --route or a --backend"],
          [["--sni", "localhost", "--backend", "127.0.0.1:1"], "--sni: expected name=cert.pem,key.pem"],
          [["--sni", sni, "--route", "localhost=nowhere"], "--route: expected host:port"],
          [["--sni", "localhost=/nonexistent.pem,/nonexistent.key", "--backend", "127.0.0.1:1"], "cannot read certificate /nonexistent.pem"],
          [["--sni", sni, "--backend", "127.0.0.1:1", "--max-connections", "0"], "--max-connections must be positive"],
          [["--backend", "127.0.0.1:1"], "no certificate"]
        ]
        for (const [args, message] of cases) {
          const r = yield* run(process.execPath, [builtBin, "serve", "--listen", "127.0.0.1:0", ...args])
          expect(r.code, r.stdout + r.stderr).toBe(2)
          expect(r.stderr).toContain(message)
        }
      }))

    it.scoped("SIGHUP reloads without dropping the open connection; SIGTERM drains and exits 0", () =>
      Effect.gen(function*() {
        const dir = mkdtempSync(join(tmpdir(), "effect-tls-serve-bin-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
        copyFileSync(pki.server.chainFile, join(dir, "cert.pem"))
        copyFileSync(pki.server.keyFile, join(dir, "key.pem"))
        const backend = yield* backendOn("B")
        const serve = yield* spawnServe(process.execPath, [
          builtBin, "serve", "--listen", "127.0.0.1:0", "--sni", `localhost=${join(dir, "cert.pem")},${join(dir, "key.pem")}`,
          "--backend", `127.0.0.1:${backend.address.port}`
        ])
        const port = yield* serve.port
        const open = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
        yield* roundTrip(open, "before", "B:before")
        const renewed = issueLeaf(pki, "renewed-bin", "/O=effect-tls/CN=localhost", SERVER_EXT)
        copyFileSync(renewed.chainFile, join(dir, "cert.pem"))
        copyFileSync(renewed.keyFile, join(dir, "key.pem"))
        serve.signal("SIGHUP")
        yield* serve.seen("reload")
        expect(serve.lines().find((l) => l.event === "reload")).toEqual({ event: "reload", ok: true, names: ["localhost"] })
        yield* roundTrip(open, "after", "B:after")
        const fresh = yield* Tls.connect({ host: "localhost", port, ca: pki.root.cert })
        expect(fingerprintOf(fresh)).not.toBe(fingerprintOf(open))
        yield* roundTrip(fresh, "new", "B:new")
        yield* fresh.shutdown
        expect(yield* fresh.read).toEqual(Option.none())

        serve.signal("SIGTERM")
        yield* serve.seen("draining")
        yield* roundTrip(open, "draining", "B:draining")
        yield* open.shutdown
        expect(yield* open.read).toEqual(Option.none())
        expect(yield* serve.exited, serve.output()).toBe(0)
        const events = serve.lines().map((l) => l.event)
        expect(events).toEqual(["listening", "reload", "connection", "draining", "connection", "stopped"])
      }))
  })
})
