/**
 * Keylog and exported keying material against OpenSSL, written once and
 * run against every layer and path: the NSS key log lines our side hands
 * to its sink for a connection are the lines `openssl s_server
 * -keylogfile` / `s_client -keylogfile` write for the same connection, and
 * `exportKeyingMaterial` gives what `-keymatexport LABEL -keymatexportlen N`
 * prints on the other end, in both roles, for TLS 1.3 and TLS 1.2.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as SniResolver from "@effect-tls/core/SniResolver"
import * as Tls from "@effect-tls/core/Tls"
import * as TlsConnection from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as NodeKeylog from "@effect-tls/node/NodeKeylog"
import { Effect, Fiber, type Layer, Logger } from "effect"
import { readFileSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterAll } from "vitest"
import { generatePki } from "../src/pki.js"
import { sServer, spawnPeer } from "./peers.js"

export interface SecretsOptions {
  /** Options every connection gets (`allowTruncation`: the runtime's native path). */
  readonly common?: Partial<TlsOptions.CommonOptions>
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex").toUpperCase()

/** What `-keymatexport` printed: the hex of the exported bytes. */
const KEYMAT = /Keying material: ([0-9A-F]+)\r?\n/
const keymat = (out: string) => KEYMAT.exec(out)?.[1]

/** The lines of an OpenSSL key log file (its comment header left out). */
const keylogFile = (file: string) =>
  readFileSync(file, "latin1").split("\n").filter((l) => l.length > 0 && !l.startsWith("#"))

const sorted = (lines: ReadonlyArray<string>) => [...lines].sort()

const TLS13_LABELS = [
  "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
  "CLIENT_TRAFFIC_SECRET_0",
  "EXPORTER_SECRET",
  "SERVER_HANDSHAKE_TRAFFIC_SECRET",
  "SERVER_TRAFFIC_SECRET_0"
]

/** A sink that collects lines in memory. */
const collecting = () => {
  const lines: Array<string> = []
  const keylog: TlsOptions.Keylog = (line) => Effect.sync(() => void lines.push(line))
  return { lines, keylog }
}

export const secretsInterop = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, options: SecretsOptions = {}) => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const common = options.common ?? {}
  let files = 0
  const tempFile = (what: string) => join(pki.dir, `${what}-${process.pid}-${files++}.log`)

  const serverFiles = ["-cert", pki.server.certFile, "-key", pki.server.keyFile, "-cert_chain", pki.intermediate.certFile]

  /** openssl s_server writing its key log to a file and printing `-keymatexport`. */
  const opensslServer = (extra: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const file = tempFile("s_server")
      const { peer, port } = yield* sServer([...serverFiles, "-keylogfile", file, ...extra])
      return { peer, port, file }
    })

  /** Our server (port 0), and openssl s_client connected to it writing its key log to a file. */
  const opensslClient = (serverOptions: Partial<TlsOptions.ServerOptions>, extra: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const server = yield* Tls.listen({
        ...common,
        host: "127.0.0.1",
        port: 0,
        cert: pki.server.chain,
        key: pki.server.key,
        ...serverOptions
      })
      const accepting = yield* Effect.fork(server.accept)
      const file = tempFile("s_client")
      const client = yield* spawnPeer("openssl", [
        "s_client", "-connect", `127.0.0.1:${server.address.port}`, "-servername", "localhost",
        "-CAfile", pki.root.certFile, "-keylogfile", file, ...extra
      ])
      return { accepting, client, file }
    })

  describe(`keylog and exported keying material against openssl: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      describe("keylog", () => {
        for (const [version, flag, count] of [["TLS 1.3", [], 5], ["TLS 1.2", ["-tls1_2"], 1]] as const) {
          it.scoped(`${version}, our client: the lines equal s_server -keylogfile's`, () =>
            Effect.gen(function*() {
              const { file, peer, port } = yield* opensslServer(flag)
              const { keylog, lines } = collecting()
              yield* Effect.scoped(Effect.gen(function*() {
                const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert, keylog })
                yield* c.write("hello from effect-tls\n")
                // s_server printed it: its side of the handshake is over, its file complete.
                yield* peer.printed("hello from effect-tls")
              }))
              const theirs = keylogFile(file)
              expect(theirs).toHaveLength(count)
              expect(sorted(lines)).toEqual(sorted(theirs))
              if (count === 5) expect(sorted(lines.map((l) => l.split(" ")[0]!))).toEqual(TLS13_LABELS)
              else expect(lines[0]).toMatch(/^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$/)
            }))

          it.scoped(`${version}, our server: the lines equal s_client -keylogfile's`, () =>
            Effect.gen(function*() {
              const { keylog, lines } = collecting()
              const { accepting, client, file } = yield* opensslClient({ keylog }, flag)
              yield* Effect.scoped(Effect.gen(function*() {
                const c = yield* Fiber.join(accepting)
                yield* c.write("ready\n")
                yield* client.printed("ready")
              }))
              const theirs = keylogFile(file)
              expect(theirs).toHaveLength(count)
              expect(sorted(lines)).toEqual(sorted(theirs))
            }))
        }

        it.scoped("the handshake's lines are with the sink when connect returns", () =>
          Effect.gen(function*() {
            const { port } = yield* opensslServer([])
            const { keylog, lines } = collecting()
            yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert, keylog })
            expect(lines).toHaveLength(5)
          }))

        it.scoped("the handshake's lines are with the sink when accept returns", () =>
          Effect.gen(function*() {
            const { keylog, lines } = collecting()
            const { accepting, client } = yield* opensslClient({ keylog }, [])
            yield* Fiber.join(accepting)
            expect(lines).toHaveLength(5)
            yield* client.printed("Verify return code")
          }))

        it.scoped("a server whose SniResolver chose the certificate logs the same lines as our client", () =>
          Effect.gen(function*() {
            const server = collecting()
            const client = collecting()
            const s = yield* Tls.listen({
              ...common,
              host: "127.0.0.1",
              port: 0,
              cert: pki.server.chain,
              key: pki.server.key,
              keylog: server.keylog
            }).pipe(Effect.provide(SniResolver.layerRecord({ "exact.test": { cert: pki.exact.chain, key: pki.exact.key } })))
            const accepting = yield* Effect.fork(s.accept)
            yield* Effect.scoped(Effect.gen(function*() {
              const c = yield* Tls.connect({
                ...common,
                host: "127.0.0.1",
                port: s.address.port,
                servername: "exact.test",
                ca: pki.root.cert,
                keylog: client.keylog
              })
              expect(c.info.peerCertificate._tag === "Some" && c.info.peerCertificate.value.subject.CN).toBe("exact.test")
              yield* Fiber.join(accepting)
            }))
            expect(server.lines).toHaveLength(5)
            expect(sorted(server.lines)).toEqual(sorted(client.lines))
          }))

        it.scoped("NodeKeylog.file appends the same lines to a file only its owner can read", () =>
          Effect.gen(function*() {
            const { file: theirs, peer, port } = yield* opensslServer([])
            const ours = tempFile("ours")
            yield* Effect.scoped(Effect.gen(function*() {
              const keylog = yield* NodeKeylog.file(ours)
              yield* Effect.scoped(Effect.gen(function*() {
                const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert, keylog })
                yield* c.write("to a file\n")
                yield* peer.printed("to a file")
              }))
            }))
            expect(sorted(keylogFile(ours))).toEqual(sorted(keylogFile(theirs)))
            expect(readFileSync(ours, "latin1").endsWith("\n")).toBe(true)
            expect(statSync(ours).mode & 0o777).toBe(0o600)
            rmSync(ours)
          }))

        it.scoped("a sink that fails is reported without the line, and no secret reaches the log", () =>
          Effect.gen(function*() {
            const { file, peer, port } = yield* opensslServer([])
            const logged: Array<string> = []
            const capture = Logger.replace(
              Logger.defaultLogger,
              Logger.make(({ cause, message }) => logged.push(`${JSON.stringify(message)} ${JSON.stringify(cause)}`))
            )
            yield* Effect.scoped(Effect.gen(function*() {
              const c = yield* Tls.connect({
                ...common,
                host: "localhost",
                port,
                ca: pki.root.cert,
                keylog: (line) => Effect.die(new Error(line))
              })
              yield* c.write("still works\n")
              yield* peer.printed("still works")
            })).pipe(Effect.provide(capture))
            const secrets = keylogFile(file).flatMap((l) => l.split(" ").slice(1))
            expect(logged.filter((l) => l.includes("keylog: the sink failed"))).toHaveLength(5)
            for (const secret of secrets) expect(logged.join("\n")).not.toContain(secret)
          }))

        it.effect("a keylog that is not a function is a TlsConfigError before any I/O", () =>
          Effect.gen(function*() {
            const failure = yield* Effect.flip(Tls.connect({
              ...common,
              host: "localhost",
              port: 1,
              keylog: "keys.log" as unknown as TlsOptions.Keylog
            }).pipe(Effect.scoped))
            expect(failure).toMatchObject({ _tag: "TlsConfigError", option: "keylog" })
          }))
      })

      describe("exportKeyingMaterial", () => {
        const label = "EXPERIMENTAL-effect-tls"
        for (const [version, flag] of [["TLS 1.3", []], ["TLS 1.2", ["-tls1_2"]]] as const) {
          it.scoped(`${version}, our client: equals s_server -keymatexport`, () =>
            Effect.gen(function*() {
              const { peer, port } = yield* opensslServer([...flag, "-keymatexport", label, "-keymatexportlen", "48"])
              const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
              yield* peer.printed(KEYMAT)
              const ours = yield* c.exportKeyingMaterial(48, label)
              expect(ours).toHaveLength(48)
              expect(hex(ours)).toBe(keymat(peer.stdout()))
            }))

          it.scoped(`${version}, our server: equals s_client -keymatexport`, () =>
            Effect.gen(function*() {
              const { accepting, client } = yield* opensslClient({}, [...flag, "-keymatexport", label, "-keymatexportlen", "20"])
              const c = yield* Fiber.join(accepting)
              yield* client.printed(KEYMAT)
              expect(hex(yield* c.exportKeyingMaterial(20, label))).toBe(keymat(client.stdout()))
            }))
        }

        it.scoped("tls-exporter channel binding (RFC 9266): equals s_server's EXPORTER-Channel-Binding, 32 bytes", () =>
          Effect.gen(function*() {
            const { peer, port } = yield* opensslServer(["-keymatexport", "EXPORTER-Channel-Binding", "-keymatexportlen", "32"])
            const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
            yield* peer.printed(KEYMAT)
            const binding = yield* TlsConnection.tlsExporter(c)
            expect(binding).toHaveLength(32)
            // In TLS 1.3 no context and an empty one are the same: s_server sends none.
            expect(hex(binding)).toBe(keymat(peer.stdout()))
          }))

        it.scoped("tls-exporter channel binding on a TLS 1.2 connection: a typed failure", () =>
          Effect.gen(function*() {
            const { port } = yield* opensslServer(["-tls1_2"])
            const c = yield* Tls.connect({ ...common, host: "localhost", port, ca: pki.root.cert })
            const failure = yield* Effect.flip(TlsConnection.tlsExporter(c))
            expect(failure).toMatchObject({ _tag: "TlsProtocolError", code: "ERR_TLS_CHANNEL_BINDING_UNAVAILABLE" })
          }))

        /** Both ends ours, over loopback. */
        const pair = (maxVersion: TlsOptions.TlsVersion) =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
            const accepting = yield* Effect.fork(server.accept)
            const client = yield* Tls.connect({
              ...common,
              host: "localhost",
              port: server.address.port,
              ca: pki.root.cert,
              maxVersion
            })
            return { client, server: yield* Fiber.join(accepting) }
          })

        it.scoped("TLS 1.2: a context, an empty context and none give three different keys, the same at both ends", () =>
          Effect.gen(function*() {
            const { client, server } = yield* pair("TLSv1.2")
            const at = (c: TlsConnection.TlsConnection) =>
              Effect.all([
                c.exportKeyingMaterial(32, label, new Uint8Array([1, 2, 3])),
                c.exportKeyingMaterial(32, label, new Uint8Array(0)),
                c.exportKeyingMaterial(32, label)
              ]).pipe(Effect.map((keys) => keys.map(hex)))
            const [ours, theirs] = [yield* at(client), yield* at(server)]
            expect(ours).toEqual(theirs)
            expect(new Set(ours).size).toBe(3)
          }))

        it.scoped("TLS 1.3: the tls-exporter binding is the same at both ends and differs per connection", () =>
          Effect.gen(function*() {
            const first = yield* pair("TLSv1.3")
            const second = yield* pair("TLSv1.3")
            const a = hex(yield* TlsConnection.tlsExporter(first.client))
            expect(hex(yield* TlsConnection.tlsExporter(first.server))).toBe(a)
            expect(hex(yield* TlsConnection.tlsExporter(second.client))).not.toBe(a)
          }))

        it.scoped("a length outside 1 to maxExportLength is a TlsConfigError naming the length", () =>
          Effect.gen(function*() {
            const { client } = yield* pair("TLSv1.3")
            for (const length of [0, -1, 1.5, Number.NaN, TlsConnection.maxExportLength + 1]) {
              expect(yield* Effect.flip(client.exportKeyingMaterial(length, label))).toMatchObject({
                _tag: "TlsConfigError",
                option: "exportKeyingMaterial.length"
              })
            }
            expect(yield* client.exportKeyingMaterial(TlsConnection.maxExportLength, label)).toHaveLength(8160)
          }))

        it.scoped("a label TLS reserves, or one that is not printable ASCII, is a TlsConfigError naming the label", () =>
          Effect.gen(function*() {
            const { client } = yield* pair("TLSv1.2")
            for (const bad of ["master secret", "key expansion", "client finished", "server finished", "extended master secret", "", "é", "a\nb", "x".repeat(250)]) {
              expect(yield* Effect.flip(client.exportKeyingMaterial(16, bad))).toMatchObject({
                _tag: "TlsConfigError",
                option: "exportKeyingMaterial.label"
              })
            }
          }))

        it.scoped("a context over 65535 bytes is a TlsConfigError naming the context", () =>
          Effect.gen(function*() {
            const { client } = yield* pair("TLSv1.3")
            expect(yield* Effect.flip(client.exportKeyingMaterial(16, label, new Uint8Array(65536)))).toMatchObject({
              _tag: "TlsConfigError",
              option: "exportKeyingMaterial.context"
            })
            expect(yield* client.exportKeyingMaterial(16, label, new Uint8Array(65535))).toHaveLength(16)
          }))

        it.scoped("once the connection is closed: TlsClosedError", () =>
          Effect.gen(function*() {
            const client = yield* Effect.scoped(Effect.map(pair("TLSv1.3"), ({ client }) => client))
            expect(yield* Effect.flip(client.exportKeyingMaterial(16, label))).toMatchObject({
              _tag: "TlsClosedError",
              operation: "exportKeyingMaterial"
            })
          }))
      })
    })
  })
}
