/**
 * Hot reload and reusePort, against any runtime's `Tls` layer and path
 * (`common: { allowTruncation: true }` runs it on the native path).
 *
 * Hot reload: a running server's own certificate context is replaced by
 * `TlsServer.reload` or by the `reload` option (a SubscriptionRef, a
 * Stream); the next handshake shows the new certificate, a connection
 * established before it keeps working, and a bad replacement fails with
 * `TlsConfigError` (or, from the option, is logged) while the previous
 * certificate keeps serving.
 *
 * reusePort: two servers bound to one port, each telling the client who it
 * is, both accept (the kernel spreads connections over them); without the
 * option the second bind fails, so the test could fail.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as SessionCache from "@effect-tls/core/SessionCache"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import { Deferred, Effect, Exit, Fiber, type Layer, Option, Stream, SubscriptionRef } from "effect"
import { X509Certificate } from "node:crypto"
import { randomBytes } from "node:crypto"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll } from "vitest"
import { run, spawnServe } from "../src/cliPeers.js"
import { generatePki, type KeyPair, type Pki } from "../src/pki.js"
import { pinned } from "../tickets/suite.js"

export interface ReloadSuiteOptions {
  /** Options every connection gets (`{ allowTruncation: true }`: the native path). */
  readonly common?: Partial<TlsOptions.CommonOptions>
  /**
   * The server runs on a native listener that keeps the TLS context it was
   * bound with (Bun's `Bun.listen`): `TlsServer.reload` fails there unless
   * the `reload` option was given at listen.
   */
  readonly nativeListenerKeepsContext?: boolean
  /** What `reusePort` does on this runtime. */
  readonly reusePort: "binds" | "TlsConfigError"
  /** Also bind two server processes of this runtime to one port (`test/reload/idServer.mjs`). */
  readonly processes?: "node" | "bun"
  /** Whether the runtime sets ticket keys (default true; Bun's node:tls cannot). */
  readonly ticketKeys?: boolean
}

const idServer = fileURLToPath(new URL("./idServer.mjs", import.meta.url))

/** Build the packages' dist (what idServer.mjs imports) with the repository's TypeScript. */
const buildPackages = run(process.execPath, [
  fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url)),
  "-b",
  "packages/bun/tsconfig.json"
], { timeoutMs: 300_000 }).pipe(
  Effect.flatMap((r) => r.code === 0 ? Effect.void : Effect.dieMessage(`tsc -b packages/bun failed:\n${r.stdout}${r.stderr}`))
)

export const reloadSuite = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, suiteOptions: ReloadSuiteOptions) => {
  const common = suiteOptions.common ?? {}
  // Made in beforeAll, not while collecting: a skipped suite runs no afterAll.
  let pki: Pki
  beforeAll(() => {
    pki = generatePki()
  })
  afterAll(() => pki?.cleanup())

  /** Certificate A (the intermediate's localhost leaf) and B (the other root's). */
  const a = () => ({ cert: pki.server.chain, key: pki.server.key })
  const b = () => ({ cert: pki.otherServer.chain, key: pki.otherServer.key })

  const serverOptions = (extra: Partial<TlsOptions.ServerOptions> = {}): TlsOptions.ServerOptions => ({
    host: "127.0.0.1",
    port: 0,
    ...a(),
    ...common,
    ...extra
  })
  /** A client that trusts both roots, so either certificate verifies. */
  const clientOptions = (port: number, extra: Partial<TlsOptions.ClientOptions> = {}): TlsOptions.ClientOptions => ({
    host: "127.0.0.1",
    port,
    servername: "localhost",
    ca: [pki.root.cert, pki.otherRoot.cert],
    ...common,
    ...extra
  })

  /** Whether the certificate the client was shown is `pair`'s leaf. */
  const shown = (c: TlsConnection, pair: KeyPair) => {
    const raw = Option.getOrThrow(c.info.peerCertificate).raw
    return Buffer.from(raw).equals(new X509Certificate(pair.cert).raw)
  }

  /** One connection: the client, and the server's side of it. */
  const connectPair = (server: Tls.TlsServer, extra: Partial<TlsOptions.ClientOptions> = {}) =>
    Effect.gen(function*() {
      const accepting = yield* Effect.fork(server.accept)
      const client = yield* Tls.connect(clientOptions(server.address.port, extra))
      const accepted = yield* Fiber.join(accepting)
      return { client, accepted }
    })

  /** A round trip each way on an established connection. */
  const stillWorks = (client: TlsConnection, accepted: TlsConnection) =>
    Effect.gen(function*() {
      yield* client.write("still")
      expect(Buffer.from(Option.getOrThrow(yield* accepted.read)).toString()).toBe("still")
      yield* accepted.write("here")
      expect(Buffer.from(Option.getOrThrow(yield* client.read)).toString()).toBe("here")
    })

  /**
   * A server `TlsServer.reload` works on: where the native listener keeps
   * its context, one given the `reload` option (which takes it elsewhere).
   */
  const reloadable = (extra: { readonly requestCert?: boolean; readonly ca?: string } = {}) =>
    Effect.gen(function*() {
      if (!suiteOptions.nativeListenerKeepsContext) return yield* Tls.listen(serverOptions(extra))
      const ref = yield* SubscriptionRef.make<TlsOptions.ServerContext>({ ...a(), ...extra })
      return yield* Tls.listen(serverOptions({ ...extra, reload: ref }))
    })

  describe(`hot reload and reusePort: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.scoped("after reload the next handshake shows the new certificate; a connection made before still works", () =>
        Effect.gen(function*() {
          const server = yield* reloadable()
          const first = yield* connectPair(server)
          expect(shown(first.client, pki.server)).toBe(true)

          yield* server.reload(b())
          const second = yield* connectPair(server)
          expect(shown(second.client, pki.otherServer)).toBe(true)
          expect(second.client.info.authorized).toBe(true)

          yield* stillWorks(first.client, first.accepted)
          yield* stillWorks(second.client, second.accepted)
        }))

      it.scoped("a replacement that does not parse, or whose key is not its certificate's, fails with TlsConfigError; the old certificate keeps serving", () =>
        Effect.gen(function*() {
          const server = yield* reloadable()
          const garbage = yield* Effect.flip(server.reload({ cert: "-----BEGIN CERTIFICATE-----\nnot base64\n", key: pki.server.key }))
          expect(garbage._tag).toBe("TlsConfigError")
          expect(garbage.option).toMatch(/^reload\./)
          const mismatched = yield* Effect.flip(server.reload({ cert: pki.otherServer.chain, key: pki.server.key }))
          expect(mismatched._tag).toBe("TlsConfigError")
          expect(mismatched.option).toMatch(/^reload\./)

          const after = yield* connectPair(server)
          expect(shown(after.client, pki.server)).toBe(true)
          yield* stillWorks(after.client, after.accepted)
        }))

      it.scoped("reload replaces the CA for client certificates: a client the old CA accepted is refused after", () =>
        Effect.gen(function*() {
          const mtls = { requestCert: true, ca: pki.root.cert }
          const server = yield* reloadable(mtls)
          const withCert = { cert: pki.client.chain, key: pki.client.key }
          const before = yield* connectPair(server, withCert)
          expect(before.accepted.info.authorized).toBe(true)

          yield* server.reload({ ...a(), requestCert: true, ca: pki.otherRoot.cert })
          const accepting = yield* Effect.fork(Effect.exit(server.accept))
          // The client may see its handshake end before the server refuses
          // the certificate (TLS 1.3); the server's side is what counts.
          yield* Effect.exit(Tls.connect(clientOptions(server.address.port, withCert)))
          const refused = yield* Fiber.join(accepting)
          expect(Exit.isFailure(refused)).toBe(true)

          yield* stillWorks(before.client, before.accepted)
        }))

      it.scoped("the reload option with a SubscriptionRef: a change is used by the next handshake, a bad one is not", () =>
        Effect.gen(function*() {
          const ref = yield* SubscriptionRef.make<TlsOptions.ServerContext>(b())
          // The ref's value at listen is what the server starts with.
          const server = yield* Tls.listen(serverOptions({ reload: ref }))
          const first = yield* connectPair(server)
          expect(shown(first.client, pki.otherServer)).toBe(true)

          yield* SubscriptionRef.set(ref, a())
          const second = yield* connectPair(server)
          expect(shown(second.client, pki.server)).toBe(true)

          // Logged as a warning; the previous context keeps serving.
          yield* SubscriptionRef.set(ref, { cert: pki.otherServer.chain, key: pki.server.key })
          const third = yield* connectPair(server)
          expect(shown(third.client, pki.server)).toBe(true)

          yield* stillWorks(first.client, first.accepted)
        }))

      it.scoped("the reload option with a SubscriptionRef whose value is bad fails listen with TlsConfigError", () =>
        Effect.gen(function*() {
          const ref = yield* SubscriptionRef.make<TlsOptions.ServerContext>({ cert: pki.otherServer.chain, key: pki.server.key })
          const error = yield* Effect.flip(Tls.listen(serverOptions({ reload: ref })))
          expect(error._tag).toBe("TlsConfigError")
        }))

      it.scoped("the reload option with a Stream applies each context as it comes", () =>
        Effect.gen(function*() {
          const applied = yield* Deferred.make<void>()
          // The Stream's next step runs once the context before it is applied.
          const contexts = Stream.concat(
            Stream.make<Array<TlsOptions.ServerContext>>(b()),
            Stream.drain(Stream.fromEffect(Deferred.succeed(applied, undefined)))
          )
          const server = yield* Tls.listen(serverOptions({ reload: contexts }))
          yield* Deferred.await(applied)
          const c = yield* connectPair(server)
          expect(shown(c.client, pki.otherServer)).toBe(true)
        }))

      it.scoped("the reload option must be a SubscriptionRef or a Stream", () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Tls.listen(serverOptions({ reload: a() as never })))
          expect(error._tag).toBe("TlsConfigError")
          expect((error as { option?: string }).option).toBe("reload")
        }))

      if (suiteOptions.nativeListenerKeepsContext) {
        it.scoped("without the reload option, TlsServer.reload on the runtime's own listener fails with TlsConfigError and the old certificate keeps serving (oven-sh/bun#43815)", () =>
          Effect.gen(function*() {
            const server = yield* Tls.listen(serverOptions())
            const error = yield* Effect.flip(server.reload(b()))
            expect(error._tag).toBe("TlsConfigError")
            expect(error.option).toBe("reload")
            const c = yield* connectPair(server)
            expect(shown(c.client, pki.server)).toBe(true)
          }))
      }

      /** A server that writes its id to every client, then closes. */
      const identified = (id: string, port: number, reusePort: boolean) =>
        Effect.gen(function*() {
          const server = yield* Tls.listen(serverOptions({ port, reusePort }))
          yield* Effect.forkScoped(server.serve((c) => Effect.zipRight(c.write(id), c.read)))
          return server
        })

      if (suiteOptions.reusePort === "binds") {
        it.scoped("reusePort: two servers on one port both accept, each telling the client its id", () =>
          Effect.gen(function*() {
            const one = yield* identified("one", 0, true)
            const two = yield* identified("two", one.address.port, true)
            expect(two.address.port).toBe(one.address.port)
            const seen = new Set<string>()
            // The kernel spreads connections by a hash of their addresses:
            // 64 connections all reaching one server would be a 2^-63 chance.
            for (let i = 0; i < 64 && seen.size < 2; i++) {
              yield* Effect.scoped(Effect.gen(function*() {
                const c = yield* Tls.connect(clientOptions(one.address.port))
                const id = Buffer.from(Option.getOrThrow(yield* c.read)).toString()
                seen.add(id)
              }))
            }
            expect([...seen].sort()).toEqual(["one", "two"])
          }))

        if (suiteOptions.processes !== undefined) {
          const runtime = suiteOptions.processes
          it.scoped("reusePort: two server processes on one port both accept, each telling the client its id", () =>
            Effect.gen(function*() {
              yield* buildPackages
              const spawnId = (id: string, port: number) =>
                spawnServe(process.execPath, [idServer, runtime, id, String(port), pki.server.chainFile, pki.server.keyFile])
              const one = yield* spawnId("process one", 0)
              const port = yield* one.port
              const two = yield* spawnId("process two", port)
              expect(yield* two.port).toBe(port)
              const seen = new Set<string>()
              for (let i = 0; i < 64 && seen.size < 2; i++) {
                yield* Effect.scoped(Effect.gen(function*() {
                  const c = yield* Tls.connect(clientOptions(port))
                  seen.add(Buffer.from(Option.getOrThrow(yield* c.read)).toString())
                }))
              }
              expect([...seen].sort()).toEqual(["process one", "process two"])
            }), { timeout: 300_000 })

          it.scoped(
            suiteOptions.ticketKeys === false
              ? "reusePort: a server process given ticket keys derived from a shared secret fails with TlsConfigError (the runtime cannot set them)"
              : "reusePort: two server processes that share only a ticket secret resume each other's sessions",
            () =>
              Effect.gen(function*() {
                yield* buildPackages
                const secretFile = join(pki.dir, `ticket-secret-${runtime}`)
                writeFileSync(secretFile, randomBytes(32), { mode: 0o600 })
                const spawnId = (id: string, port: number) =>
                  spawnServe(process.execPath, [
                    idServer,
                    runtime,
                    id,
                    String(port),
                    pki.server.chainFile,
                    pki.server.keyFile,
                    secretFile
                  ])
                const one = yield* spawnId("process one", 0)
                if (suiteOptions.ticketKeys === false) {
                  expect(yield* one.exited).toBe(1)
                  expect(one.output()).toContain("TlsConfigError")
                  expect(one.output()).toContain("ticketKeys")
                  return
                }
                const port = yield* one.port
                const two = yield* spawnId("process two", port)
                expect(yield* two.port).toBe(port)
                const cache = pinned()
                /** One connection: which process answered, and whether both ends resumed. */
                const ask = Effect.scoped(Effect.gen(function*() {
                  const c = yield* Tls.connect(clientOptions(port))
                  const said = JSON.parse(Buffer.from(Option.getOrThrow(yield* c.read)).toString()) as {
                    id: string
                    reused: boolean
                  }
                  return { id: said.id, server: said.reused, client: c.info.sessionReused }
                })).pipe(Effect.provideService(SessionCache.SessionCache, cache.service))
                const first = yield* ask
                expect(first).toMatchObject({ server: false, client: false })
                // Offer a ticket of the first process until the other one answers.
                cache.offerNewest()
                let other: { id: string; server: boolean; client: boolean } | undefined
                for (let i = 0; i < 64 && other === undefined; i++) {
                  const answer = yield* ask
                  if (answer.id !== first.id) other = answer
                }
                expect(other).toEqual({
                  id: first.id === "process one" ? "process two" : "process one",
                  server: true,
                  client: true
                })
              }),
            { timeout: 300_000 }
          )
        }

        it.scoped("without reusePort a second server on the same port fails to bind", () =>
          Effect.gen(function*() {
            const one = yield* identified("one", 0, false)
            const error = yield* Effect.flip(Tls.listen(serverOptions({ port: one.address.port })))
            expect(error._tag).toBe("TlsTransportError")
          }))
      } else {
        it.scoped("reusePort fails with TlsConfigError where the runtime would ignore it", () =>
          Effect.gen(function*() {
            const error = yield* Effect.flip(Tls.listen(serverOptions({ reusePort: true })))
            expect(error._tag).toBe("TlsConfigError")
            expect((error as { option?: string }).option).toBe("reusePort")
          }))
      }

      it.scoped("reusePort must be a boolean", () =>
        Effect.gen(function*() {
          const error = yield* Effect.flip(Tls.listen(serverOptions({ reusePort: "yes" as never })))
          expect(error._tag).toBe("TlsConfigError")
        }))
    })
  })
}
