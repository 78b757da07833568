/**
 * ClientHellos captured from real clients at test time (node:tls in this
 * very runtime, `openssl s_client`, `gnutls-cli`) are read whole by
 * `ClientHello.read`, at any record fragmentation and read chunking.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ClientHello from "@effect-tls/core/ClientHello"
import { Deferred, Effect, FastCheck as fc, Option, type Scope } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"
import * as Testing from "@effect-tls/core/testing"
import { spawnPeer, withPeers } from "./peers.js"

const RUNS = { numRuns: Number(process.env.PROPERTY_RUNS ?? 200) }
const TLS13 = 0x0304

/**
 * A raw TCP server on 127.0.0.1 that keeps the first bytes of its first
 * connection until they hold a whole ClientHello, then drops it.
 */
const capturing = Effect.gen(function*() {
  const captured = yield* Deferred.make<Uint8Array, Error>()
  const sockets = new Set<net.Socket>()
  const server = yield* Effect.acquireRelease(
    Effect.async<net.Server>((resume) => {
      const s = net.createServer((socket) => {
        let bytes: Buffer = Buffer.alloc(0)
        sockets.add(socket)
        socket.on("close", () => sockets.delete(socket))
        socket.on("error", () => {})
        socket.on("data", (chunk: Buffer) => {
          bytes = Buffer.concat([bytes, chunk])
          const result = ClientHello.inspect(bytes)
          if (result._tag === "NeedMore") return
          Deferred.unsafeDone(
            captured,
            result._tag === "Complete"
              ? Effect.succeed(new Uint8Array(bytes.subarray(0, result.length)))
              : Effect.fail(new Error(`not a ClientHello: ${result.error.message} (${String(result.error.cause)})`))
          )
          socket.destroy()
        })
      })
      s.listen(0, "127.0.0.1", () => resume(Effect.succeed(s)))
    }),
    (s) =>
      Effect.async<void>((resume) => {
        for (const socket of sockets) socket.destroy()
        s.close(() => resume(Effect.void))
      })
  )
  const port = (server.address() as net.AddressInfo).port
  const hello = Deferred.await(captured).pipe(
    Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("no ClientHello within 10 s") })
  )
  return { port, hello }
})

/** The hello a node:tls client of this runtime sends. */
const fromNode = (options: Omit<tls.ConnectionOptions, "port" | "host">) =>
  Effect.gen(function*() {
    const { hello, port } = yield* capturing
    yield* Effect.acquireRelease(
      Effect.sync(() => tls.connect({ host: "127.0.0.1", port, ...options }).on("error", () => {})),
      (socket) => Effect.sync(() => socket.destroy())
    )
    return yield* hello
  })

/** The hello a command-line client sends; `args` gets the port. */
const fromCommand = (command: string, args: (port: number) => ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const { hello, port } = yield* capturing
    const peer = yield* spawnPeer(command, args(port))
    return yield* hello.pipe(
      Effect.mapError((e) => new Error(`${e.message}\n${command} said: ${peer.stdout()}${peer.stderr()}`))
    )
  })

const sClient = (extra: ReadonlyArray<string>) =>
  fromCommand("openssl", (port) => ["s_client", "-connect", `127.0.0.1:${port}`, ...extra])

const gnutlsCli = (extra: ReadonlyArray<string>) =>
  fromCommand("gnutls-cli", (port) => ["--insecure", "-p", String(port), ...extra, "127.0.0.1"])

interface Expected {
  readonly serverName: Option.Option<string>
  readonly alpn: ReadonlyArray<string>
  readonly tls13: boolean
}

/** Parse `bytes` and check what a server decides on. */
const check = (bytes: Uint8Array, expected: Expected) => {
  const result = ClientHello.inspect(bytes)
  if (result._tag !== "Complete") throw new Error(`expected a complete hello, got ${result._tag}`)
  const hello = result.hello
  expect(result.length).toBe(bytes.length)
  expect(hello.serverName).toEqual(expected.serverName)
  expect(hello.alpnProtocols).toEqual(expected.alpn)
  expect(hello.cipherSuites.length).toBeGreaterThan(0)
  if (expected.tls13) {
    expect(hello.supportedVersions).toContain(TLS13)
    expect(hello.keyShareGroups.length).toBeGreaterThan(0)
  } else {
    expect(hello.supportedVersions).not.toContain(TLS13)
  }
  return hello
}

/** The handshake message inside the records of `bytes`. */
const messageOf = (bytes: Uint8Array) => {
  const parts: Array<number> = []
  for (let at = 0; at + 5 <= bytes.length;) {
    const length = (bytes[at + 3]! << 8) | bytes[at + 4]!
    parts.push(...bytes.subarray(at + 5, at + 5 + length))
    at += 5 + length
  }
  return new Uint8Array(parts)
}

describe("ClientHellos of real clients", () => {
  /** Name, capture, what it must contain, and the peers the capture runs. */
  const clients: ReadonlyArray<
    readonly [string, Effect.Effect<Uint8Array, Error, Scope.Scope>, Expected, ReadonlyArray<string>?]
  > = [
    ["node:tls, TLS 1.3, SNI and ALPN", fromNode({ servername: "sni.example.test", ALPNProtocols: ["h2", "http/1.1"] }), {
      serverName: Option.some("sni.example.test"),
      alpn: ["h2", "http/1.1"],
      tls13: true
    }],
    ["node:tls, TLS 1.2 only, no ALPN", fromNode({ servername: "old.example.test", maxVersion: "TLSv1.2" }), {
      serverName: Option.some("old.example.test"),
      alpn: [],
      tls13: false
    }],
    ["openssl s_client, TLS 1.3", sClient(["-servername", "openssl.example.test", "-alpn", "h2,http/1.1"]), {
      serverName: Option.some("openssl.example.test"),
      alpn: ["h2", "http/1.1"],
      tls13: true
    }],
    ["openssl s_client -tls1_2, SNI and ALPN", sClient(["-tls1_2", "-servername", "openssl12.example.test", "-alpn", "h2,http/1.1"]), {
      serverName: Option.some("openssl12.example.test"),
      alpn: ["h2", "http/1.1"],
      tls13: false
    }],
    ["openssl s_client -tls1_2 -noservername", sClient(["-tls1_2", "-noservername"]), {
      serverName: Option.none(),
      alpn: [],
      tls13: false
    }],
    ["openssl s_client -max_send_frag 512 (the hello in several records)", sClient([
      "-servername", "frag.example.test", "-max_send_frag", "512",
      "-alpn", Array.from({ length: 40 }, (_, i) => `protocol-number-${i}`).join(",")
    ]), {
      serverName: Option.some("frag.example.test"),
      alpn: Array.from({ length: 40 }, (_, i) => `protocol-number-${i}`),
      tls13: true
    }],
    ["gnutls-cli, TLS 1.3", gnutlsCli(["--sni-hostname", "gnutls.example.test", "--alpn", "h2", "--alpn", "http/1.1"]), {
      serverName: Option.some("gnutls.example.test"),
      alpn: ["h2", "http/1.1"],
      tls13: true
    }, ["gnutls-cli"]],
    ["gnutls-cli, TLS 1.2 only", gnutlsCli(["--sni-hostname", "gnutls12.example.test", "--priority", "NORMAL:-VERS-ALL:+VERS-TLS1.2"]), {
      serverName: Option.some("gnutls12.example.test"),
      alpn: [],
      tls13: false
    }, ["gnutls-cli"]]
  ]

  // Without gnutls-cli its cases are skipped with a note (failed under
  // EFFECT_TLS_REQUIRE_PEERS, which .ci/run sets after installing gnutls-bin).
  for (const [name, capture, expected, peers = []] of clients) {
    withPeers(peers, it.scoped)(`${name}: the fields, at any fragmentation`, () =>
      Effect.gen(function*() {
        const bytes = yield* capture
        const hello = check(bytes, expected)
        const message = messageOf(bytes)
        const sizes = fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 })
        yield* Effect.promise(() =>
          fc.assert(
            fc.asyncProperty(sizes, sizes, async (recordSizes, readSizes) => {
              const framed = Testing.clientHelloRecords(message, recordSizes)
              const read = await Effect.runPromise(ClientHello.read(Testing.replayTransport(Testing.split(framed, readSizes))))
              expect(Buffer.compare(read.bytes, framed)).toBe(0)
              expect(read.hello.serverName).toEqual(hello.serverName)
              expect(read.hello.alpnProtocols).toEqual(hello.alpnProtocols)
              expect(read.hello.supportedVersions).toEqual(hello.supportedVersions)
              expect(read.hello.keyShareGroups).toEqual(hello.keyShareGroups)
              expect(read.hello.cipherSuites).toEqual(hello.cipherSuites)
            }),
            RUNS
          )
        )
      }), 30_000)
  }
})
