/**
 * Conformance: SNI and ALPN resolved by services while a server handshake
 * is in flight (`SniResolver`, `AlpnSelector`), written once and run
 * against every layer that provides `Tls`.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as AlpnSelector from "@effect-tls/core/AlpnSelector"
import * as SniResolver from "@effect-tls/core/SniResolver"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import { TlsConfigError } from "@effect-tls/core/TlsError"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import { Deferred, Effect, Exit, Fiber, Layer, Logger, Option, Stream } from "effect"
import { afterAll } from "vitest"
import { generatePki } from "../src/pki.js"
import { acceptOne, failureOf } from "./support.js"

export const sniAlpnConformance = (
  name: string,
  tlsLayer: Layer.Layer<Tls.Tls>,
  /** Options every connection gets (`allowTruncation`: the native path, resolvers included). */
  common: Partial<TlsOptions.CommonOptions> = {}
) => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())

  const localhost: TlsOptions.ServerContext = { cert: pki.server.chain, key: pki.server.key }
  const exact: TlsOptions.ServerContext = { cert: pki.exact.chain, key: pki.exact.key }
  const wildcard: TlsOptions.ServerContext = { cert: pki.wildcard.chain, key: pki.wildcard.key }
  const virtualHosts = { "exact.test": exact, "*.wild.test": wildcard }

  const serverOptions = (extra: Partial<TlsOptions.ServerOptions> = {}): TlsOptions.ServerOptions => ({
    host: "127.0.0.1",
    port: 0,
    ...localhost,
    ...common,
    ...extra
  })
  /** A client of 127.0.0.1 that asks for `servername` and verifies it. */
  const clientOptions = (
    port: number,
    servername: string | undefined,
    extra: Partial<TlsOptions.ClientOptions> = {}
  ): TlsOptions.ClientOptions => ({
    host: "127.0.0.1",
    port,
    ca: pki.root.cert,
    ...(servername === undefined ? {} : { servername }),
    ...common,
    ...extra
  })

  const echo = (c: TlsConnection) => Stream.run(c.stream, c.sink)

  /** Serve `echo` with `services` provided to the server, until the scope closes. */
  const serving = <ROut, E>(
    services: Layer.Layer<ROut, E>,
    options: TlsOptions.ServerOptions = serverOptions(),
    handler: (c: TlsConnection) => Effect.Effect<unknown, unknown> = echo
  ) =>
    Effect.gen(function*() {
      const server = yield* Tls.listen(options).pipe(Effect.provide(services))
      yield* Effect.forkScoped(server.serve(handler))
      return server.address.port
    })

  const subjectCN = (c: TlsConnection) => Option.getOrThrow(c.info.peerCertificate).subject.CN

  /** Connect, check the echo works, and report the certificate's CN and the ALPN protocol. */
  const visit = (options: TlsOptions.ClientOptions) =>
    Effect.scoped(Effect.gen(function*() {
      const c = yield* Tls.connect(options)
      yield* c.write("ping")
      const back = yield* c.read
      expect(Option.map(back, (b) => Buffer.from(b).toString())).toEqual(Option.some("ping"))
      return { cn: subjectCN(c), alpn: c.info.alpnProtocol, servername: c.info.servername }
    }))

  describe(`SNI and ALPN: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      describe("SniResolver.layerRecord", () => {
        it.scoped("serves the exact name, the wildcard and the fallback from one port", () =>
          Effect.gen(function*() {
            const port = yield* serving(SniResolver.layerRecord(virtualHosts, { fallback: localhost }))
            expect((yield* visit(clientOptions(port, "exact.test"))).cn).toBe("exact.test")
            expect((yield* visit(clientOptions(port, "a.wild.test"))).cn).toBe("*.wild.test")
            expect((yield* visit(clientOptions(port, "B.Wild.Test"))).cn).toBe("*.wild.test")
            // No SNI (an IP address as host): the fallback, verified against 127.0.0.1.
            expect((yield* visit(clientOptions(port, undefined))).cn).toBe("localhost")
            expect((yield* visit(clientOptions(port, "localhost"))).cn).toBe("localhost")
          }))

        it.scoped("a wildcard covers one label only: deeper names and the bare domain get the fallback", () =>
          Effect.gen(function*() {
            const port = yield* serving(SniResolver.layerRecord(virtualHosts, { fallback: localhost }))
            for (const servername of ["a.b.wild.test", "wild.test", "unknown.test"]) {
              const seen = yield* visit(clientOptions(port, servername, { verify: false }))
              expect(seen.cn, servername).toBe("localhost")
            }
          }))

        it.scoped("the server sees the name the client asked for in info.servername", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions(), SniResolver.layerRecord(virtualHosts))
            const client = yield* Tls.connect(clientOptions(port, "x.wild.test"))
            const server = yield* result.pipe(Effect.flatten)
            expect(server.info.servername).toEqual(Option.some("x.wild.test"))
            expect(client.info.servername).toEqual(Option.some("x.wild.test"))
          }))

        it.scoped("without a fallback, unknown names get the server's own certificate", () =>
          Effect.gen(function*() {
            const port = yield* serving(SniResolver.layerRecord({ "exact.test": exact }))
            expect((yield* visit(clientOptions(port, "localhost"))).cn).toBe("localhost")
            expect((yield* visit(clientOptions(port, "exact.test"))).cn).toBe("exact.test")
          }))

        it.scoped("strict mode answers an unknown name with unrecognized_name", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions(), SniResolver.layerRecord(virtualHosts, { strict: true }))
            const exit = yield* Tls.connect(clientOptions(port, "unknown.test", { verify: false })).pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({
              _tag: "TlsAlertError",
              alert: "unrecognized_name",
              direction: "received"
            })
            expect(failureOf(yield* result)).toMatchObject({
              _tag: "TlsAlertError",
              alert: "unrecognized_name",
              direction: "sent"
            })
          }))

        it.scoped("strict mode with a fallback still serves clients that send no name", () =>
          Effect.gen(function*() {
            const port = yield* serving(SniResolver.layerRecord(virtualHosts, { strict: true, fallback: localhost }))
            expect((yield* visit(clientOptions(port, undefined))).cn).toBe("localhost")
            expect((yield* visit(clientOptions(port, "exact.test"))).cn).toBe("exact.test")
          }))

        it.effect("rejects a key that is not a host name or one-label wildcard", () =>
          Effect.gen(function*() {
            for (const key of ["a.*.test", "*", "**.test", "bad name.test", "-x.test"]) {
              const error = yield* Effect.flip(Layer.build(SniResolver.layerRecord({ [key]: exact })).pipe(Effect.scoped))
              expect(error, key).toMatchObject({ _tag: "TlsConfigError", option: `sni[${JSON.stringify(key)}]` })
            }
          }))

        it.effect("rejects a malformed context, naming its entry", () =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(
              Layer.build(SniResolver.layerRecord({ "exact.test": { cert: "nonsense", key: pki.exact.key } })).pipe(
                Effect.scoped
              )
            )
            expect(error).toMatchObject({ _tag: "TlsConfigError", option: `sni["exact.test"].cert` })
          }))

        it.scoped("a context whose key does not match its certificate fails listen, before any client", () =>
          Effect.gen(function*() {
            const mismatched = { cert: pki.exact.chain, key: pki.wildcard.key }
            const error = yield* Effect.flip(
              Tls.listen(serverOptions()).pipe(Effect.provide(SniResolver.layerRecord({ "exact.test": mismatched })))
            )
            expect(error).toMatchObject({ _tag: "TlsConfigError" })
            expect((error as { option: string }).option).toMatch(/^sni\["exact\.test"\]/)
          }))
      })

      describe("SniResolver.layer", () => {
        it.scoped("an asynchronous resolver answers while the handshake is in flight", () =>
          Effect.gen(function*() {
            const asked: Array<Option.Option<string>> = []
            const port = yield* serving(
              SniResolver.layer((servername, hello) =>
                Effect.gen(function*() {
                  asked.push(servername)
                  expect(hello.serverName).toEqual(servername)
                  // A slow certificate store.
                  yield* Effect.sleep("100 millis")
                  return Option.map(Option.filter(servername, (n) => n === "exact.test"), () => exact)
                })
              )
            )
            const [a, b] = yield* Effect.all(
              [visit(clientOptions(port, "exact.test")), visit(clientOptions(port, "localhost"))],
              { concurrency: 2 }
            )
            expect(a.cn).toBe("exact.test")
            expect(b.cn).toBe("localhost")
            expect(asked).toHaveLength(2)
          }))

        it.scoped("the resolver sees the ClientHello: offered ALPN, versions, cipher suites", () =>
          Effect.gen(function*() {
            const seen = yield* Deferred.make<{ alpn: ReadonlyArray<string>; versions: ReadonlyArray<number> }>()
            const port = yield* serving(
              SniResolver.layer((_, hello) =>
                Deferred.succeed(seen, { alpn: hello.alpnProtocols, versions: hello.supportedVersions }).pipe(
                  Effect.as(Option.none())
                )
              )
            )
            yield* visit(clientOptions(port, "localhost", { alpnProtocols: ["h2", "http/1.1"] }))
            const hello = yield* Deferred.await(seen)
            expect(hello.alpn).toEqual(["h2", "http/1.1"])
            expect(hello.versions).toContain(0x0304)
          }))

        it.scoped("a resolver that fails or dies aborts only that handshake, with internal_error, and is logged", () =>
          Effect.gen(function*() {
            const logs: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
            const captured = Logger.replace(
              Logger.defaultLogger,
              Logger.make(({ annotations, message }) => {
                const record: Record<string, unknown> = {}
                for (const [k, v] of annotations) record[k] = v
                logs.push({ message, annotations: record })
              })
            )
            const port = yield* serving(
              SniResolver.layer((servername) =>
                Option.getOrUndefined(servername) === "fails.test"
                  ? Effect.fail(new TlsConfigError({ option: "store", reason: "lookup failed" }))
                  : Option.getOrUndefined(servername) === "dies.test"
                  ? Effect.die(new Error("the certificate store is down"))
                  : Effect.succeed(Option.none())
              )
            ).pipe(Effect.provide(captured))
            const outcomes = yield* Effect.all(
              ["localhost", "fails.test", "localhost", "dies.test", "localhost", "localhost"].map((servername) =>
                visit(clientOptions(port, servername, { verify: servername === "localhost" })).pipe(
                  Effect.exit,
                  Effect.map((exit) => [servername, exit] as const)
                )
              ),
              { concurrency: "unbounded" }
            )
            for (const [servername, exit] of outcomes) {
              if (servername === "localhost") {
                expect(Exit.isSuccess(exit), servername).toBe(true)
              } else {
                expect(failureOf(exit), servername).toMatchObject({
                  _tag: "TlsAlertError",
                  alert: "internal_error",
                  direction: "received"
                })
              }
            }
            // The server goes on serving.
            expect((yield* visit(clientOptions(port, "localhost"))).cn).toBe("localhost")
            const failures = logs.filter((l) => String(l.message).includes("SNI resolver failed"))
            expect(failures.map((l) => l.annotations.servername).sort()).toEqual(["dies.test", "fails.test"])
            expect(JSON.stringify(logs.map((l) => String(l.message)))).not.toContain("PRIVATE KEY")
          }))
      })

      describe("ALPN", () => {
        it.scoped("by default the server's preference order wins", () =>
          Effect.gen(function*() {
            const port = yield* serving(Layer.empty, serverOptions({ alpnProtocols: ["h2", "http/1.1"] }))
            const seen = yield* visit(clientOptions(port, "localhost", { alpnProtocols: ["http/1.1", "h2"] }))
            expect(seen.alpn).toEqual(Option.some("h2"))
            const only = yield* visit(clientOptions(port, "localhost", { alpnProtocols: ["http/1.1"] }))
            expect(only.alpn).toEqual(Option.some("http/1.1"))
          }))

        it.scoped("a client that offers no ALPN gets none", () =>
          Effect.gen(function*() {
            const port = yield* serving(Layer.empty, serverOptions({ alpnProtocols: ["h2"] }))
            expect((yield* visit(clientOptions(port, "localhost"))).alpn).toEqual(Option.none())
          }))

        it.scoped("no protocol in common: the client gets no_application_protocol", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ alpnProtocols: ["h2"] }), AlpnSelector.layerPreference(["h2"]))
            const exit = yield* Tls.connect(clientOptions(port, "localhost", { alpnProtocols: ["imap"] })).pipe(
              Effect.exit
            )
            expect(failureOf(exit)).toMatchObject({
              _tag: "TlsAlertError",
              alert: "no_application_protocol",
              direction: "received"
            })
            expect(failureOf(yield* result)).toMatchObject({
              _tag: "TlsAlertError",
              alert: "no_application_protocol",
              direction: "sent"
            })
          }))

        it.scoped("without a selector, no overlap with the server's alpnProtocols is no_application_protocol too", () =>
          Effect.gen(function*() {
            const port = yield* serving(Layer.empty, serverOptions({ alpnProtocols: ["h2"] }))
            const exit = yield* visit(clientOptions(port, "localhost", { alpnProtocols: ["imap"] })).pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({ _tag: "TlsAlertError", alert: "no_application_protocol" })
          }))

        it.scoped("onMismatch: continue goes on without ALPN", () =>
          Effect.gen(function*() {
            const port = yield* serving(AlpnSelector.layerPreference(["h2"], { onMismatch: "continue" }))
            const seen = yield* visit(clientOptions(port, "localhost", { alpnProtocols: ["imap"] }))
            expect(seen.alpn).toEqual(Option.none())
            const h2 = yield* visit(clientOptions(port, "localhost", { alpnProtocols: ["imap", "h2"] }))
            expect(h2.alpn).toEqual(Option.some("h2"))
          }))

        it.scoped("a selector from an Effect function chooses per server name, asynchronously", () =>
          Effect.gen(function*() {
            const port = yield* serving(
              Layer.merge(
                SniResolver.layerRecord(virtualHosts, { fallback: localhost }),
                AlpnSelector.layer((offered, servername) =>
                  Effect.sleep("20 millis").pipe(
                    Effect.as(
                      Option.getOrUndefined(servername) === "exact.test"
                        ? Option.fromNullable(offered.find((p) => p === "http/1.1"))
                        : Option.fromNullable(offered[0])
                    )
                  )
                )
              )
            )
            const offered = { alpnProtocols: ["h2", "http/1.1"] }
            expect((yield* visit(clientOptions(port, "exact.test", offered))).alpn).toEqual(Option.some("http/1.1"))
            expect((yield* visit(clientOptions(port, "a.wild.test", offered))).alpn).toEqual(Option.some("h2"))
          }))

        it.scoped("a context's own alpnProtocols apply to its name", () =>
          Effect.gen(function*() {
            const port = yield* serving(
              SniResolver.layerRecord({ "exact.test": { ...exact, alpnProtocols: ["http/1.1"] } }),
              serverOptions({ alpnProtocols: ["h2", "http/1.1"] })
            )
            const offered = { alpnProtocols: ["h2", "http/1.1"] }
            expect((yield* visit(clientOptions(port, "exact.test", offered))).alpn).toEqual(Option.some("http/1.1"))
            expect((yield* visit(clientOptions(port, "localhost", offered))).alpn).toEqual(Option.some("h2"))
          }))

        it.scoped("a selector that picks a protocol the client did not offer aborts with internal_error", () =>
          Effect.gen(function*() {
            const port = yield* serving(AlpnSelector.layer(() => Effect.succeed(Option.some("smtp"))))
            const exit = yield* visit(clientOptions(port, "localhost", { alpnProtocols: ["h2"] })).pipe(Effect.exit)
            expect(failureOf(exit)).toMatchObject({ _tag: "TlsAlertError", alert: "internal_error" })
          }))

        it.effect("layerPreference rejects invalid protocol names", () =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(Layer.build(AlpnSelector.layerPreference(["h2", ""])).pipe(Effect.scoped))
            expect(error).toMatchObject({ _tag: "TlsConfigError", option: "alpnProtocols[1]" })
          }))
      })

      describe("first flight", () => {
        it.scoped("a resolver that never answers is bounded by handshakeTimeout", () =>
          Effect.gen(function*() {
            const { port, result } = yield* acceptOne(
              serverOptions({ handshakeTimeout: "300 millis" }),
              SniResolver.layer(() => Effect.never)
            )
            const client = yield* Effect.fork(Tls.connect(clientOptions(port, "localhost")).pipe(Effect.exit))
            expect(failureOf(yield* result)).toMatchObject({ _tag: "TlsTimeoutError", phase: "handshake", millis: 300 })
            // The server released the connection: the client's handshake ends too.
            expect(Exit.isFailure(yield* Fiber.join(client))).toBe(true)
          }))
      })
    })
  })
}
