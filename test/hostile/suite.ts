/**
 * The hostile-peer suite: what an attacker on the path or a hostile peer
 * can do, run against every layer that provides `Tls`
 * (`hostileSuite(name, layer)`). Every attack must end in a typed error
 * (or correct data), within a bound, on every path: `connect`/`listen` and
 * `upgrade` in both roles.
 *
 * - Record-layer tampering through a man-in-the-middle (test/hostile/mitm.ts)
 *   in both directions, after the handshake, under TLS 1.2 and 1.3: flip a
 *   byte, garbage, inject a plaintext handshake record, cut a record and
 *   end, reorder, replay.
 * - Peers that do not speak TLS: what the error says must be what went out
 *   on the wire.
 * - Renegotiation floods (refused) and KeyUpdate floods (the connection
 *   stays correct), with `openssl s_client` as the peer.
 * - The trust matrix of a client against `openssl s_server`.
 *
 * Seeds are fixed and printed, so a failure can be replayed.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import { Deferred, Effect, Exit, Fiber, type Layer, Logger, Option, Scope } from "effect"
import * as net from "node:net"
import { afterAll } from "vitest"
import { openTcpSockets, seededRandom } from "../conformance/support.js"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import { spawnPeer, sServer, withPeers } from "../interop/peers.js"
import { datedLeaf, generatePki, issueLeaf, type KeyPair, revokedLeaf, SERVER_EXT } from "../src/pki.js"
import { connectedPair, describeError, nodeTcp, outcome, type Path, paths, type PlainTcp } from "./endpoints.js"
import { type Direction, makeMitm, plaintextHandshakeRecord, type Tamper } from "./mitm.js"

/** The seed of every random choice in this suite (printed when it starts). */
export const SEED = 0x13_2026

export type Attack = "flip" | "garbage" | "inject" | "cut" | "reorder" | "replay"

const attacks: ReadonlyArray<Attack> = ["flip", "garbage", "inject", "cut", "reorder", "replay"]

type Version = "TLSv1.2" | "TLSv1.3"

/**
 * What the receiving side of a tampered record reports (as `describeError`
 * prints it), on OpenSSL (Node 20 and 24). The alert names are those the
 * peer receives (checked against `openssl s_server -msg`).
 */
export const opensslOutcome = (version: Version, attack: Attack): string => {
  switch (attack) {
    case "cut":
      return "TlsUnexpectedEof read"
    case "inject":
      // TLS 1.2: a record too short for its nonce and tag; TLS 1.3: a
      // plaintext handshake record where only application_data may come.
      return version === "TLSv1.2" ? "TlsAlertError internal_error sent" : "TlsAlertError unexpected_message sent"
    default:
      return "TlsAlertError bad_record_mac sent"
  }
}

export interface HostileOptions {
  /**
   * The outcome a layer reports where it differs from OpenSSL's (a pinned,
   * documented runtime difference); `undefined` keeps OpenSSL's.
   */
  readonly outcome?: (version: Version, attack: Attack, direction: Direction, path: Path) => string | undefined
  /** Plain TCP of the runtime, for `upgrade`. */
  readonly tcp?: PlainTcp
  /** What a server reports for a client's renegotiation, where it differs. */
  readonly renegotiation?: string
  /**
   * What a client reports when the server asks it to renegotiate, where it
   * differs; "unanswered": the client neither renegotiates nor reports anything.
   */
  readonly serverRenegotiation?: string
  /** Whether the TLS library answers a first record that is not TLS with an alert (OpenSSL: no). */
  readonly alertForNotTls?: boolean
  /**
   * The runtime's listener accepts and handshakes every client itself
   * (Bun's native listener): `maxConnections` and `maxHandshakes` bound the
   * connections `serve` runs, not the sockets the runtime accepts.
   */
  readonly listenerAcceptsAll?: true
  /**
   * The layer reads a connection that ends without close_notify, and a
   * fatal alert GnuTLS sends before it closes, as a clean end (Bun's
   * native sockets: oven-sh/bun#42324, #41272).
   */
  readonly truncationLooksClean?: true
  /** What a client reads when the server closes abortively, where it differs. */
  readonly abortSeenAs?: string
  /** How the server's connection ends when a client sends 100 KeyUpdates in a row, where it is refused. */
  readonly keyUpdatesInARow?: string
  /** What a client given `crl` reports (for every server), where CRLs are not supported. */
  readonly crl?: string
  /** What a client reports for a TLS 1.0/1.1-only server, where it differs. */
  readonly oldVersions?: string
  /** What a client reports when the server has no cipher in common, where it differs. */
  readonly noSharedCipher?: string
  /** Options every connection gets (`allowTruncation`: the runtime's native path). */
  readonly common?: Partial<TlsOptions.CommonOptions>
}

/** Fail the test (rather than wait for its timeout) when `effect` takes longer than `seconds`. */
const within = <A, E, R>(what: string, seconds: number, effect: Effect.Effect<A, E, R>) =>
  Effect.timeoutFail(effect, {
    duration: `${seconds} seconds`,
    onTimeout: () => new Error(`${what}: still pending after ${seconds} s`)
  }).pipe(Effect.orDie)

/** Read until the connection fails or ends: the bytes that came, and how it ended. */
const readUntilEnd = (c: TlsConnection) =>
  Effect.gen(function*() {
    let bytes = 0
    for (;;) {
      const exit = yield* Effect.exit(c.read)
      if (Exit.isSuccess(exit) && Option.isSome(exit.value)) {
        bytes += exit.value.value.length
        continue
      }
      return { bytes, end: outcome(exit) }
    }
  })

const tamperFor = (attack: Attack, random: () => number): Tamper => {
  switch (attack) {
    case "garbage":
      return { _tag: "garbage", random }
    case "inject":
      return { _tag: "inject", record: plaintextHandshakeRecord }
    default:
      return { _tag: attack }
  }
}

export const hostileSuite = (name: string, tlsLayer: Layer.Layer<Tls.Tls>, o: HostileOptions = {}) => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const tcp = o.tcp ?? nodeTcp
  const common = o.common ?? {}
  console.log(`hostile-peer suite (${name}): seed ${SEED}`)

  describe(`hostile peers: ${name}`, () => {
    layer(tlsLayer, { timeout: 30_000, excludeTestServices: true })((it) => {
      describe("record-layer tampering by a man-in-the-middle, after the handshake", () => {
        let run = 0
        for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
          for (const path of paths) {
            for (const direction of ["toServer", "toClient"] as const) {
              for (const attack of attacks) {
                const seed = SEED + run++
                const expected = o.outcome?.(version, attack, direction, path) ?? opensslOutcome(version, attack)
                const receiverName = direction === "toServer" ? "server" : "client"
                it.scoped(
                  `${version} ${path}: ${attack} a record to the ${receiverName} -> ${expected} (seed ${seed})`,
                  () =>
                    Effect.gen(function*() {
                      const { client, mitm, server } = yield* connectedPair(pki, path, { version, server: common, client: common }, tcp)
                      const [sender, receiver] = direction === "toServer" ? [client, server] : [server, client]
                      const reading = yield* Effect.fork(readUntilEnd(receiver))
                      mitm.arm(direction, tamperFor(attack, seededRandom(seed)))
                      yield* sender.write(Buffer.alloc(1024, 1))
                      yield* within("tampering", 5, mitm.tampered(direction))
                      // A reordered record is sent after the next one.
                      if (attack === "reorder") yield* sender.write(Buffer.alloc(1024, 2))
                      const result = yield* within(`the ${receiverName}'s read`, 5, Fiber.join(reading))
                      expect(result.end).toBe(expected)
                      // A replayed record comes after the genuine one, which is read.
                      expect(result.bytes).toBe(attack === "replay" && !expected.startsWith("clean") ? 1024 : 0)
                      if (expected.startsWith("Tls")) {
                        // Sticky: every later call fails with the same error.
                        expect(outcome(yield* within("a second read", 5, Effect.exit(receiver.read)))).toBe(expected)
                        const write = yield* within("a write", 5, Effect.exit(receiver.write("after")))
                        expect(Exit.isFailure(write) && outcome(Exit.map(write, () => Option.none()))).toBe(expected)
                      }
                      if (expected.endsWith(" sent")) {
                        // The sender receives the alert the receiver sent.
                        const alert = expected.split(" ")[1]
                        const peer = yield* within("the sender's read", 5, readUntilEnd(sender))
                        expect(peer.end).toBe(`TlsAlertError ${alert} received`)
                      }
                    })
                )
              }
            }
          }
        }
      })

      describe("renegotiation and KeyUpdate floods (openssl s_client as the peer)", () => {
        const sClient = (port: number, extra: ReadonlyArray<string>) =>
          spawnPeer("openssl", [
            "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-CAfile", pki.root.certFile,
            ...extra
          ])

        it.scoped("a TLS 1.2 client that renegotiates again and again: refused at once with a typed error", () =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
            const accepting = yield* Effect.fork(server.accept)
            const peer = yield* sClient(server.address.port, ["-tls1_2"])
            const conn = yield* within("the handshake", 10, Fiber.join(accepting))
            const reading = yield* Effect.fork(readUntilEnd(conn))
            // Ten renegotiations asked for in a row (s_client's `R` command).
            yield* peer.write("R\n".repeat(10))
            const result = yield* within("the server's read", 10, Fiber.join(reading))
            expect(result.end).toBe(o.renegotiation ?? "TlsProtocolError ERR_TLS_RENEGOTIATION_DISABLED")
            const write = yield* within("a write", 5, Effect.exit(conn.write("after")))
            expect(Exit.isFailure(write) && outcome(Exit.map(write, () => Option.none()))).toBe(result.end)
            // The peer is gone, or told: it never completes a second handshake.
            expect(peer.stdout()).not.toMatch(/Verify return code: 0 \(ok\)[\s\S]*Verify return code: 0 \(ok\)/)
          }))

        it.scoped("a TLS 1.2 server that asks our client to renegotiate: refused", () =>
          Effect.gen(function*() {
            const { peer, port } = yield* sServer([
              "-cert", pki.server.certFile, "-key", pki.server.keyFile, "-cert_chain", pki.intermediate.certFile,
              "-tls1_2", "-naccept", "1"
            ])
            const client = yield* Tls.connect({ ...common, host: "127.0.0.1", port, servername: "localhost", ca: pki.root.cert })
            yield* within("the handshake", 10, peer.printed("CIPHER is"))
            // s_server's `r`: a HelloRequest; then a line of data.
            const reading = yield* Effect.fork(readUntilEnd(client))
            yield* peer.write("r\n")
            const expected = o.serverRenegotiation ?? "TlsProtocolError ERR_TLS_RENEGOTIATION_DISABLED"
            if (expected === "unanswered") {
              // s_server starts its renegotiation and waits for a ClientHello
              // that never comes; the client reports nothing.
              yield* within("s_server's renegotiation", 10, peer.said(/SSL_renegotiate|SSL_do_handshake/))
              const pending = yield* Effect.timeout(Fiber.await(reading), "500 millis").pipe(Effect.option)
              expect(pending).toEqual(Option.none())
              return
            }
            const result = yield* within("the client's read", 10, Fiber.join(reading))
            expect(result.end).toBe(expected)
          }))

        /**
         * A TLS 1.3 client (s_client) that sends `inARow` KeyUpdates asking
         * for ours (`K`) before each of `rounds` lines, which the server
         * echoes upper-cased. Returns how the server's connection ended,
         * if it did.
         */
        const keyUpdateFlood = (rounds: number, inARow: number) =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
            const accepting = yield* Effect.fork(server.accept)
            const peer = yield* sClient(server.address.port, ["-tls1_3"])
            const conn = yield* within("the handshake", 10, Fiber.join(accepting))
            const echo = yield* Effect.fork(
              Effect.gen(function*() {
                for (;;) {
                  const chunk = yield* conn.read
                  if (Option.isNone(chunk)) return "clean end"
                  yield* conn.write(Buffer.from(chunk.value).toString().toUpperCase())
                }
              }).pipe(Effect.catchAll((e) => Effect.succeed(describeError(e))))
            )
            // s_client prints KEYUPDATE on stderr for each one it sent.
            const keyUpdates = () => peer.stderr().split("KEYUPDATE").length - 1
            for (let round = 0; round < rounds; round++) {
              // s_client reads a command only at the start of what it read
              // at once, so each waits for the one before.
              for (let i = 0; i < inARow; i++) {
                const before = keyUpdates()
                yield* peer.write("K\n")
                const sent = yield* within("s_client's KeyUpdate", 10, Effect.exit(peer.shows("KEYUPDATE", () => keyUpdates() > before)))
                if (Exit.isFailure(sent)) return { ended: yield* within("the server's read", 10, Fiber.join(echo)), keyUpdates: keyUpdates() }
              }
              yield* peer.write(`round ${round} after ${inARow} key updates\n`)
              yield* within(`round ${round}`, 10, peer.printed(`ROUND ${round} AFTER ${inARow} KEY UPDATES`))
            }
            return { ended: undefined, keyUpdates: keyUpdates() }
          })

        it.scoped("a TLS 1.3 client that sends 200 KeyUpdates (asking for ours), 25 between messages: data stays correct", () =>
          Effect.gen(function*() {
            const result = yield* keyUpdateFlood(8, 25)
            expect(result).toEqual({ ended: undefined, keyUpdates: 200 })
          }))

        it.scoped(
          `a TLS 1.3 client that sends 100 KeyUpdates in a row: ${o.keyUpdatesInARow ?? "data stays correct"}`,
          () =>
            Effect.gen(function*() {
              const result = yield* keyUpdateFlood(1, 100)
              if (o.keyUpdatesInARow === undefined) expect(result).toEqual({ ended: undefined, keyUpdates: 100 })
              else expect(result.ended).toBe(o.keyUpdatesInARow)
            })
        )
      })

      describe("the trust matrix of a client (openssl s_server as the server)", () => {
        const now = Date.now()
        const day = 86_400_000
        const leaves = {
          cnOnly: issueLeaf(pki, "cnonly", "/CN=localhost", "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"),
          ipAsDns: issueLeaf(pki, "ipasdns", "/CN=127.0.0.1", SERVER_EXT.replace("DNS:localhost,IP:127.0.0.1", "DNS:127.0.0.1")),
          ipOnly: issueLeaf(pki, "iponly", "/CN=localhost", SERVER_EXT.replace("DNS:localhost,IP:127.0.0.1", "IP:127.0.0.1")),
          notYetValid: datedLeaf(pki, "notyetvalid", new Date(now + day), new Date(now + 3 * day)),
          revoked: revokedLeaf(pki, "revoked")
        }
        type Case = {
          readonly name: string
          readonly pair: KeyPair
          readonly chain?: boolean
          readonly server?: ReadonlyArray<string>
          readonly client?: Partial<TlsOptions.ClientOptions>
          readonly expected: string
        }
        const cases: ReadonlyArray<Case> = [
          { name: "a trusted chain for localhost", pair: pki.server, expected: "ok" },
          { name: "a self-signed leaf", pair: pki.selfSigned, chain: false, expected: "TlsCertificateError DEPTH_ZERO_SELF_SIGNED_CERT" },
          { name: "a leaf of an untrusted root", pair: pki.otherServer, chain: false, expected: "TlsCertificateError UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
          { name: "a leaf without its intermediate", pair: pki.server, chain: false, expected: "TlsCertificateError UNABLE_TO_VERIFY_LEAF_SIGNATURE" },
          { name: "an expired leaf", pair: pki.expired, expected: "TlsCertificateError CERT_HAS_EXPIRED" },
          { name: "a leaf not valid yet", pair: leaves.notYetValid, expected: "TlsCertificateError CERT_NOT_YET_VALID" },
          { name: "a leaf for another host", pair: pki.wrongHost, expected: "TlsCertificateError ERR_TLS_CERT_ALTNAME_INVALID" },
          { name: "a one-label wildcard, for a name it covers", pair: pki.wildcard, client: { servername: "a.wild.test" }, expected: "ok" },
          { name: "a one-label wildcard, for two labels", pair: pki.wildcard, client: { servername: "a.b.wild.test" }, expected: "TlsCertificateError ERR_TLS_CERT_ALTNAME_INVALID" },
          { name: "a one-label wildcard, for its parent", pair: pki.wildcard, client: { servername: "wild.test" }, expected: "TlsCertificateError ERR_TLS_CERT_ALTNAME_INVALID" },
          { name: "an IP SAN, for that IP", pair: leaves.ipOnly, client: { servername: "127.0.0.1" }, expected: "ok" },
          { name: "an IP SAN only, for a DNS name", pair: leaves.ipOnly, expected: "TlsCertificateError ERR_TLS_CERT_ALTNAME_INVALID" },
          { name: "an IP written as a DNS SAN, for that IP", pair: leaves.ipAsDns, client: { servername: "127.0.0.1" }, expected: "TlsCertificateError ERR_TLS_CERT_ALTNAME_INVALID" },
          { name: "a CN and no subjectAltName, for that CN", pair: leaves.cnOnly, expected: "TlsCertificateError ERR_TLS_CERT_ALTNAME_INVALID" },
          { name: "a revoked leaf, with the CRLs in the options", pair: leaves.revoked, client: { crl: leaves.revoked.crls }, expected: o.crl ?? "TlsCertificateError CERT_REVOKED" },
          { name: "a revoked leaf, without CRLs (revocation is checked only against CRLs given)", pair: leaves.revoked, expected: "ok" },
          { name: "a trusted leaf, with the CRLs in the options", pair: pki.server, client: { crl: leaves.revoked.crls }, expected: o.crl ?? "ok" },
          { name: "a TLS 1.0/1.1-only server", pair: pki.server, server: ["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], expected: o.oldVersions ?? "TlsAlertError protocol_version received" },
          { name: "no cipher in common", pair: pki.server, server: ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256"], client: { maxVersion: "TLSv1.2", ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305" }, expected: o.noSharedCipher ?? "TlsAlertError handshake_failure received" }
        ]
        for (const c of cases) {
          it.scoped(`${c.name}: ${c.expected}`, () =>
            Effect.gen(function*() {
              const files = ["-cert", c.pair.certFile, "-key", c.pair.keyFile]
              if (c.chain !== false && c.pair.chain !== c.pair.cert) files.push("-cert_chain", pki.intermediate.certFile)
              const { port } = yield* sServer([...files, ...(c.server ?? []), "-naccept", "1"])
              const exit = yield* within(
                "the handshake",
                10,
                Effect.exit(Tls.connect({ ...common, host: "127.0.0.1", port, servername: "localhost", ca: pki.root.cert, ...c.client }))
              )
              expect(Exit.isSuccess(exit) ? "ok" : outcome(Exit.map(exit, () => Option.none()))).toBe(c.expected)
            }))
        }
      })

      describe("verify: false", () => {
        it.scoped("logs one warning per options object, naming the host and nothing secret", () =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
            yield* Effect.forkScoped(server.serve((c) => readUntilEnd(c)))
            const warnings: Array<string> = []
            const capture = Logger.replace(
              Logger.defaultLogger,
              Logger.make(({ logLevel, message }) => {
                if (logLevel._tag === "Warning") warnings.push(String(message))
              })
            )
            const unverified = { host: "127.0.0.1", port: server.address.port, servername: "localhost", verify: false }
            for (let i = 0; i < 3; i++) yield* Tls.connect(unverified).pipe(Effect.scoped, Effect.provide(capture))
            expect(warnings).toHaveLength(1)
            expect(warnings[0]).toContain("verify: false")
            expect(warnings[0]).toContain("localhost")
            expect(warnings[0]).not.toMatch(/BEGIN|PRIVATE/)
            // Another options object: another warning; a verifying client: none.
            yield* Tls.connect({ ...common, ...unverified }).pipe(Effect.scoped, Effect.provide(capture))
            yield* Tls.connect({ ...common, ...unverified, verify: true, ca: pki.root.cert }).pipe(Effect.scoped, Effect.provide(capture))
            expect(warnings).toHaveLength(2)
          }))
      })

      describe("server limits", () => {
        const serverOptions = { host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key }
        const clientOf = (port: number, extra: Partial<TlsOptions.ClientOptions> = {}) =>
          Tls.connect({ ...common, host: "127.0.0.1", port, servername: "localhost", ca: pki.root.cert, ...extra })
        /** Serve, holding each connection open until the client leaves. */
        const holding = (options: Partial<TlsOptions.ServerOptions>) =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, ...serverOptions, ...options })
            yield* Effect.forkScoped(server.serve((c) => readUntilEnd(c)))
            return server.address.port
          })

        it.scoped("maxConnections: at the limit nothing more is accepted until a connection ends", () =>
          Effect.gen(function*() {
            const port = yield* holding({ maxConnections: 2 })
            const first = yield* Scope.make()
            yield* clientOf(port).pipe(Scope.extend(first))
            yield* clientOf(port)
            // The third waits in the kernel's backlog: its handshake never starts.
            const third = yield* Effect.exit(clientOf(port, { handshakeTimeout: "300 millis" }).pipe(Effect.scoped))
            expect(Exit.isSuccess(third) ? "connected" : outcome(Exit.map(third, () => Option.none()))).toBe(
              o.listenerAcceptsAll ? "connected" : "TlsTimeoutError handshake"
            )
            // The timed-out client's slot was never taken; one more leaves: a slot frees.
            yield* Scope.close(first, Exit.void)
            const fourth = yield* within("a connection once a slot freed", 10, clientOf(port))
            expect(fourth.info.protocol).toBe("TLSv1.3")
          }))

        it.scoped("maxHandshakes: a client that never speaks holds its slot until it leaves, and no longer", () =>
          Effect.gen(function*() {
            const port = yield* holding({ maxHandshakes: 1 })
            const silent = yield* Effect.acquireRelease(
              Effect.async<net.Socket>((resume) => {
                const s = net.connect(port, "127.0.0.1", () => resume(Effect.succeed(s)))
                s.on("error", () => {})
              }),
              (s) => Effect.sync(() => s.destroy())
            )
            const blocked = yield* Effect.exit(clientOf(port, { handshakeTimeout: "300 millis" }).pipe(Effect.scoped))
            expect(Exit.isSuccess(blocked) ? "connected" : outcome(Exit.map(blocked, () => Option.none()))).toBe(
              o.listenerAcceptsAll ? "connected" : "TlsTimeoutError handshake"
            )
            silent.destroy()
            const next = yield* within("a handshake once the slot freed", 10, clientOf(port))
            expect(next.info.protocol).toBe("TLSv1.3")
          }))

        it.scoped("idleTimeout: an established connection that sees nothing fails with TlsTimeoutError idle and is closed", () =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, ...serverOptions, idleTimeout: "300 millis" })
            const accepting = yield* Effect.fork(server.accept)
            const client = yield* clientOf(server.address.port)
            const conn = yield* Fiber.join(accepting)
            yield* conn.write("ping")
            expect(Option.map(yield* client.read, (b) => Buffer.from(b).toString())).toEqual(Option.some("ping"))
            const serverSide = yield* within("the idle timeout", 10, readUntilEnd(conn))
            expect(serverSide.end).toBe("TlsTimeoutError idle")
            // Closed abortively: the client sees the end of the connection, without close_notify.
            const clientSide = yield* within("the client's read", 10, readUntilEnd(client))
            expect(clientSide.end).toBe(
              o.abortSeenAs ?? (common.allowTruncation === true ? "clean end" : "TlsUnexpectedEof read")
            )
          }))

        it.scoped("closeGrace: interrupting serve with 5 connections whose peers never read takes about the grace", () =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, ...serverOptions, closeGrace: "200 millis" })
            const writing = yield* Deferred.make<void>()
            let started = 0
            const serving = yield* Effect.fork(server.serve((c) =>
              Effect.gen(function*() {
                if (++started === 5) yield* Deferred.succeed(writing, undefined)
                // The client never reads: these writes fill every buffer on the way.
                for (;;) yield* c.write(new Uint8Array(256 * 1024))
              })
            ))
            for (let i = 0; i < 5; i++) yield* clientOf(server.address.port)
            yield* within("five handlers", 10, Deferred.await(writing))
            const start = Date.now()
            yield* within("interrupting serve", 10, Fiber.interrupt(serving))
            expect(Date.now() - start).toBeLessThan(2_000)
          }))
      })

      describe("GnuTLS as the peer (gnutls-cli, through the man-in-the-middle)", () => {
        const gnutlsCli = (port: number, extra: ReadonlyArray<string>) =>
          spawnPeer("gnutls-cli", [
            "-p", String(port), "--x509cafile", pki.root.certFile, "--sni-hostname", "localhost",
            "--verify-hostname", "localhost", ...extra, "127.0.0.1"
          ])
        for (const version of ["TLSv1.2", "TLSv1.3"] as const) {
          const priority = version === "TLSv1.2" ? "NORMAL:-VERS-ALL:+VERS-TLS1.2" : "NORMAL:-VERS-ALL:+VERS-TLS1.3"
          for (const direction of ["toServer", "toClient"] as const) {
            withPeers(["gnutls-cli"], it.scoped)(
              `${version}: a flipped byte ${direction === "toServer" ? "from gnutls-cli fails our server" : "to gnutls-cli is seen by GnuTLS"}`,
              () =>
                Effect.gen(function*() {
                  const server = yield* Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
                  const mitm = yield* makeMitm(server.address.port)
                  const accepting = yield* Effect.fork(server.accept)
                  const peer = yield* gnutlsCli(mitm.port, ["--priority", priority])
                  const conn = yield* within("the handshake", 10, Fiber.join(accepting))
                  expect(conn.info.protocol).toBe(version)
                  yield* within("gnutls-cli's handshake", 10, peer.said("Handshake was completed"))
                  const reading = yield* Effect.fork(readUntilEnd(conn))
                  mitm.arm(direction, { _tag: "flip" })
                  if (direction === "toServer") yield* peer.write("x".repeat(1024) + "\n")
                  else yield* conn.write(Buffer.alloc(1024, 0x61))
                  yield* within("tampering", 10, mitm.tampered(direction))
                  if (direction === "toServer") {
                    const result = yield* within("our server's read", 10, Fiber.join(reading))
                    expect(result.end).toBe(o.outcome?.(version, "flip", direction, "connect/listen") ?? opensslOutcome(version, "flip"))
                    // GnuTLS receives the alert.
                    yield* within("gnutls-cli's report", 10, peer.said(/Bad record MAC|bad_record_mac|Decryption has failed/i))
                  } else {
                    // GnuTLS refuses the record: "Decryption has failed" (it sends bad_record_mac to us).
                    yield* within("gnutls-cli's report", 10, peer.said(/Decryption has failed|Bad record MAC|Error in recv/i))
                    const result = yield* within("our server's read", 10, Fiber.join(reading))
                    // GnuTLS may leave without an alert: an end, where a bare FIN is one.
                    if (o.truncationLooksClean || common.allowTruncation === true) expect(result.end).toMatch(/^Tls|^clean end$/)
                    else expect(result.end).toMatch(/^Tls/)
                  }
                })
            )
          }
        }

        withPeers(["gnutls-cli"], it.scoped)("gnutls-cli --rehandshake (TLS 1.2): refused with a typed error", () =>
          Effect.gen(function*() {
            const server = yield* Tls.listen({ ...common, host: "127.0.0.1", port: 0, cert: pki.server.chain, key: pki.server.key })
            const accepting = yield* Effect.fork(server.accept)
            // The peer stays until the scope ends.
            yield* gnutlsCli(server.address.port, ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2", "--rehandshake"])
            const conn = yield* within("the handshake", 10, Fiber.join(accepting))
            const result = yield* within("our server's read", 10, readUntilEnd(conn))
            expect(result.end).toBe(o.renegotiation ?? "TlsProtocolError ERR_TLS_RENEGOTIATION_DISABLED")
          }))
      })

      describe("fuzz: random and mutated records after the handshake, to each role", () => {
        for (const direction of ["toServer", "toClient"] as const) {
          const receiverName = direction === "toServer" ? "server" : "client"
          const seed = SEED + (direction === "toServer" ? 1_000 : 2_000)
          it.scoped(`30 runs, seed ${seed}: the ${receiverName} ends each in a typed error or the sent data, within 5 s, no socket left open`, () =>
            Effect.gen(function*() {
              const random = seededRandom(seed)
              const baseline = openTcpSockets()
              const outcomes = new Map<string, number>()
              for (let run = 0; run < 30; run++) {
                const version = random() < 0.5 ? "TLSv1.2" as const : "TLSv1.3" as const
                const end = yield* Effect.scoped(Effect.gen(function*() {
                  const { client, mitm, server } = yield* connectedPair(pki, "connect/listen", { version, server: common, client: common }, tcp)
                  const [sender, receiver] = direction === "toServer" ? [client, server] : [server, client]
                  const reading = yield* Effect.fork(readUntilEnd(receiver))
                  mitm.arm(direction, { _tag: "mutate", mutate: (r) => mutation(r, random) })
                  yield* sender.write(Buffer.alloc(1024, 7))
                  yield* within("tampering", 5, mitm.tampered(direction))
                  // The sender leaves, so a record made to look longer ends too.
                  yield* Effect.ignore(sender.shutdown)
                  const result = yield* within(`run ${run} (seed ${seed})`, 5, Fiber.join(reading))
                  // A clean end only with everything sent (where a clean end can be told apart at all).
                  if (result.end === "clean end") {
                    // (allowTruncation: a record cut short by the FIN is an end, by choice.)
                    if (!o.truncationLooksClean && common.allowTruncation !== true) expect(result.bytes).toBe(1024)
                  } else expect(result.end, `run ${run} (seed ${seed})`).toMatch(/^Tls[A-Za-z]+Error |^TlsUnexpectedEof /)
                  return result.end
                }))
                outcomes.set(end, (outcomes.get(end) ?? 0) + 1)
              }
              console.log(`hostile-peer fuzz, ${name}, ${receiverName}, seed ${seed}: ${JSON.stringify(Object.fromEntries(outcomes))}`)
              // Every socket of every run is closed (closing is asynchronous: wait, bounded).
              for (let i = 0; i < 200 && openTcpSockets() > baseline; i++) yield* Effect.sleep("10 millis")
              expect(openTcpSockets()).toBeLessThanOrEqual(baseline)
              expect([...outcomes.keys()].every((k) => k.startsWith("Tls") || k === "clean end")).toBe(true)
            }))
        }
      })

      describe("peers that do not speak TLS: the error says what went out", () => {
        for (const answer of ["random bytes", "an HTTP response"] as const) {
          it.scoped(`a server answering with ${answer}: an alert is reported as sent only if one went out`, () =>
            Effect.gen(function*() {
              const random = seededRandom(SEED)
              const reply = answer === "random bytes"
                ? Buffer.from(Array.from({ length: 64 }, () => Math.floor(random() * 256)))
                : Buffer.from("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
              // The first byte of a record is its type: keep the random answer from looking like one.
              if (answer === "random bytes") reply[0] = 0x80 | reply[0]!
              const peer = yield* talkingServer(reply)
              const exit = yield* within(
                "the handshake",
                10,
                Effect.exit(Tls.connect({ ...common, host: "127.0.0.1", port: peer.port, servername: "localhost", ca: pki.root.cert }))
              )
              // What the client sent: its ClientHello (handshake records), then an alert or not.
              const types = recordTypes(yield* within("the client's close", 10, peer.received))
              expect(types[0]).toBe(22)
              const alertSent = types.includes(21)
              expect(alertSent).toBe(o.alertForNotTls ?? false)
              expect(Exit.isFailure(exit) && outcome(Exit.map(exit, () => Option.none()))).toBe(
                alertSent ? "TlsAlertError protocol_version sent" : "TlsProtocolError ERR_SSL_WRONG_VERSION_NUMBER"
              )
            }))
        }
      })
    })
  })
}

/**
 * One fuzzer's mutation of a whole record (header included): a random
 * record of any type and length, a few flipped bits anywhere (the length
 * field too), a record cut short, or random bytes appended.
 */
const mutation = (record: Buffer, random: () => number): Buffer => {
  const int = (n: number) => Math.floor(random() * n)
  switch (int(4)) {
    case 0: {
      const length = int(2048)
      const out = Buffer.alloc(5 + length)
      out[0] = [20, 21, 22, 23, int(256)][int(5)]!
      out[1] = 3
      out[2] = 3
      out.writeUInt16BE(length, 3)
      for (let i = 5; i < out.length; i++) out[i] = int(256)
      return out
    }
    case 1: {
      for (let flips = 1 + int(4); flips > 0; flips--) record[int(record.length)]! ^= 1 << int(8)
      return record
    }
    case 2:
      return record.subarray(0, int(record.length))
    default:
      return Buffer.concat([record, Buffer.from(Array.from({ length: 1 + int(64) }, () => int(256)))])
  }
}

/**
 * A TCP server on 127.0.0.1 that answers the first bytes of its one
 * connection with `reply`, and hands out everything it received once the
 * client closed.
 */
const talkingServer = (reply: Buffer) =>
  Effect.gen(function*() {
    const chunks: Array<Buffer> = []
    let done: ((bytes: Buffer) => void) | undefined
    const finished = new Promise<Buffer>((resolve) => {
      done = resolve
    })
    const server = yield* Effect.acquireRelease(
      Effect.async<net.Server>((resume) => {
        const s = net.createServer((socket) => {
          socket.on("error", () => {})
          socket.once("data", () => socket.write(reply))
          socket.on("data", (d: Buffer) => chunks.push(d))
          socket.on("close", () => done!(Buffer.concat(chunks)))
        })
        s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
      }),
      (s) => Effect.sync(() => s.close())
    )
    return {
      port: (server.address() as net.AddressInfo).port,
      received: Effect.promise(() => finished)
    }
  })

/** The content types of the TLS records in `bytes`. */
const recordTypes = (bytes: Buffer): Array<number> => {
  const types: Array<number> = []
  let at = 0
  while (at + 5 <= bytes.length) {
    types.push(bytes[at]!)
    at += 5 + bytes.readUInt16BE(at + 3)
  }
  return types
}
