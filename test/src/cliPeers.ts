/**
 * Helpers for the `effect-tls` command's tests: running the command as a
 * process (the built bin under Node, or the source under Bun), a fake SMTP
 * server that upgrades to TLS with `Tls.upgrade`, and a plain TCP backend.
 */
import * as Tls from "@effect-tls/core/Tls"
import type { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Listener } from "@effect-tls/core/TlsRuntime"
import type { Transport } from "@effect-tls/core/Transport"
import { Effect, Option, type Scope, Stream } from "effect"
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { makeCondition } from "./condition.js"

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url))
export const builtBin = fileURLToPath(new URL("../../packages/cli/dist/bin.js", import.meta.url))
export const sourceBin = fileURLToPath(new URL("../../packages/cli/src/bin.ts", import.meta.url))

export interface Ran {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Run a process to its end (killed after `timeoutMs`, and by the scope
 * if interrupted), with its output.
 */
export const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly timeoutMs?: number; readonly env?: Record<string, string> } = {}
): Effect.Effect<Ran> =>
  Effect.async<Ran>((resume) => {
    const child = spawn(command, [...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "", ...options.env }
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()))
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000)
    child.on("error", (e) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code: null, signal: null, stdout, stderr: stderr + String(e) }))
    })
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, signal, stdout, stderr }))
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** Build packages/cli (dist/bin.js) with the repository's TypeScript. */
export const buildCli = run(process.execPath, [
  fileURLToPath(new URL("../../node_modules/typescript/bin/tsc", import.meta.url)),
  "-b",
  "packages/cli/tsconfig.json"
], { timeoutMs: 300_000 }).pipe(
  Effect.flatMap((r) => r.code === 0 ? Effect.void : Effect.dieMessage(`tsc -b packages/cli failed:\n${r.stdout}${r.stderr}`))
)

/**
 * A fake IMAP, POP3, FTP or PostgreSQL server on `listener`: it speaks its
 * protocol up to STARTTLS (IMAP `STARTTLS`, POP3 `STLS`, FTP `AUTH TLS`,
 * PostgreSQL's SSLRequest), then runs a TLS server handshake over the same
 * connection with `Tls.upgrade` and echoes. One connection after another.
 */
export const fakeStartTls = (
  listener: Listener,
  protocol: "imap" | "pop3" | "ftp" | "postgres",
  options: { readonly cert: string; readonly key: string }
): Effect.Effect<void, never, Tls.Tls | Scope.Scope> =>
  Effect.forkScoped(Effect.forever(Effect.scoped(Effect.gen(function*() {
    const transport = yield* Effect.acquireRelease(listener.accept, (t) => t.close)
    const say = (text: string) => transport.write(new TextEncoder().encode(text))
    if (protocol === "postgres") {
      let got = 0
      while (got < 8) {
        const chunk = yield* transport.read
        if (Option.isNone(chunk)) return
        got += chunk.value.length
      }
      yield* say("S")
    } else {
      const line = lineReader(transport)
      const dialogue: Record<typeof protocol, readonly [greeting: string, command: string, reply: string]> = {
        imap: ["* OK [CAPABILITY IMAP4rev1 STARTTLS] fake ready\r\n", "a1 STARTTLS", "a1 OK begin TLS now\r\n"],
        pop3: ["+OK fake POP3 ready\r\n", "STLS", "+OK begin TLS\r\n"],
        ftp: ["220-fake FTP\r\n220 ready\r\n", "AUTH TLS", "234 AUTH TLS ok\r\n"]
      }
      const [greeting, command, reply] = dialogue[protocol]
      yield* say(greeting)
      const got = yield* line
      if (Option.isNone(got) || got.value.toUpperCase() !== command.toUpperCase()) return
      yield* say(reply)
    }
    const tls = yield* Tls.upgrade(transport, { role: "server", cert: options.cert, key: options.key })
    yield* Stream.run(tls.stream, tls.sink)
  }).pipe(Effect.ignore)))).pipe(Effect.asVoid)

/** Reads CRLF/LF lines from a transport. */
export const lineReader = (transport: Transport) => {
  let buffered = ""
  const line: Effect.Effect<Option.Option<string>, TlsTransportError> = Effect.suspend(() => {
    const end = buffered.indexOf("\n")
    if (end !== -1) {
      const text = buffered.slice(0, end).replace(/\r$/, "")
      buffered = buffered.slice(end + 1)
      return Effect.succeed(Option.some(text))
    }
    return Effect.flatMap(transport.read, (chunk) => {
      if (Option.isNone(chunk)) return Effect.succeed(Option.none())
      buffered += Buffer.from(chunk.value).toString("latin1")
      return line
    })
  })
  return line
}

export interface FakeSmtpOptions {
  readonly cert: string
  readonly key: string
  /** Offer STARTTLS in the EHLO reply. Default true. */
  readonly offerStartTls?: boolean
}

/**
 * A fake SMTP server on `listener`: greets, answers EHLO (offering
 * STARTTLS), answers STARTTLS with 220, then runs a TLS server handshake
 * over the same TCP connection with `Tls.upgrade` and echoes what arrives.
 * Serves connections one after another until the scope closes.
 */
export const fakeSmtp = (listener: Listener, options: FakeSmtpOptions): Effect.Effect<void, never, Tls.Tls | Scope.Scope> =>
  Effect.forkScoped(Effect.forever(Effect.scoped(Effect.gen(function*() {
    const transport = yield* Effect.acquireRelease(listener.accept, (t) => t.close)
    const say = (text: string) => transport.write(new TextEncoder().encode(text))
    const line = lineReader(transport)
    yield* say("220 fake.test ESMTP ready\r\n")
    while (true) {
      const got = yield* line
      if (Option.isNone(got)) return
      const command = got.value.toUpperCase()
      if (command.startsWith("EHLO")) {
        yield* say(options.offerStartTls === false ? "250-fake.test\r\n250 8BITMIME\r\n" : "250-fake.test\r\n250-8BITMIME\r\n250 STARTTLS\r\n")
      } else if (command === "STARTTLS" && options.offerStartTls !== false) {
        yield* say("220 2.0.0 ready to start TLS\r\n")
        const tls = yield* Tls.upgrade(transport, { role: "server", cert: options.cert, key: options.key })
        yield* Stream.run(tls.stream, tls.sink)
        return
      } else if (command === "QUIT") {
        yield* say("221 bye\r\n")
        return
      } else {
        yield* say("502 5.5.1 not implemented\r\n")
      }
    }
  }).pipe(Effect.ignore)))).pipe(Effect.asVoid)


/** What a backend parsed from a PROXY protocol v2 header. */
export interface ProxyHeader {
  readonly command: "PROXY" | "LOCAL"
  readonly source?: { readonly host: string; readonly port: number }
  readonly destination?: { readonly host: string; readonly port: number }
  readonly alpn?: string
  readonly authority?: string
}

const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a])

/** Parse a PROXY v2 header at the start of `bytes`: the header and its length, or undefined if incomplete. */
export const parseProxyV2 = (bytes: Buffer): { header: ProxyHeader; length: number } | undefined => {
  if (bytes.length < 16) return undefined
  if (!bytes.subarray(0, 12).equals(SIGNATURE)) throw new Error(`not a PROXY v2 signature: ${bytes.subarray(0, 12).toString("hex")}`)
  const verCmd = bytes[12]!
  const family = bytes[13]!
  const length = bytes.readUInt16BE(14)
  if (bytes.length < 16 + length) return undefined
  if (verCmd >> 4 !== 2) throw new Error(`PROXY version ${verCmd >> 4}`)
  const body = bytes.subarray(16, 16 + length)
  let offset = 0
  let source: ProxyHeader["source"]
  let destination: ProxyHeader["destination"]
  if (family === 0x11) {
    source = { host: [...body.subarray(0, 4)].join("."), port: body.readUInt16BE(8) }
    destination = { host: [...body.subarray(4, 8)].join("."), port: body.readUInt16BE(10) }
    offset = 12
  } else if (family === 0x21) {
    const v6 = (b: Buffer) => Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(":")
    source = { host: v6(body.subarray(0, 16)), port: body.readUInt16BE(32) }
    destination = { host: v6(body.subarray(16, 32)), port: body.readUInt16BE(34) }
    offset = 36
  }
  const tlvs: Record<number, string> = {}
  while (offset + 3 <= body.length) {
    const type = body[offset]!
    const len = body.readUInt16BE(offset + 1)
    tlvs[type] = body.subarray(offset + 3, offset + 3 + len).toString()
    offset += 3 + len
  }
  return {
    header: {
      command: (verCmd & 0x0f) === 1 ? "PROXY" : "LOCAL",
      ...(source === undefined ? {} : { source }),
      ...(destination === undefined ? {} : { destination }),
      ...(tlvs[1] === undefined ? {} : { alpn: tlvs[1] }),
      ...(tlvs[2] === undefined ? {} : { authority: tlvs[2] })
    },
    length: 16 + length
  }
}

export interface Backend {
  readonly address: { readonly host: string; readonly port: number }
  /** PROXY headers received, in order of connections. */
  readonly headers: Array<ProxyHeader>
}

/**
 * A plain TCP backend on `listener`: each chunk it receives comes back as
 * `NAME:chunk`; it ends its side when the client ends its own. With
 * `proxy`, each connection must start with a PROXY v2 header (recorded).
 */
export const tcpBackend = (
  listener: Listener,
  name: string,
  options: { readonly proxy?: boolean } = {}
): Effect.Effect<Backend, never, Scope.Scope> =>
  Effect.gen(function*() {
    const headers: Array<ProxyHeader> = []
    const serveOne = (transport: Transport) =>
      Effect.gen(function*() {
        let pending = Buffer.alloc(0)
        let headerDone = options.proxy !== true
        while (true) {
          const chunk = yield* transport.read
          if (Option.isNone(chunk)) break
          let data = Buffer.from(chunk.value)
          if (!headerDone) {
            pending = Buffer.concat([pending, data])
            const parsed = parseProxyV2(pending)
            if (parsed === undefined) continue
            headers.push(parsed.header)
            headerDone = true
            data = pending.subarray(parsed.length)
            if (data.length === 0) continue
          }
          yield* transport.write(new TextEncoder().encode(`${name}:${data.toString()}`))
        }
        yield* transport.end
      }).pipe(Effect.ensuring(transport.close), Effect.ignore)
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(listener.accept, (t) => Effect.fork(serveOne(t)))))
    return { address: listener.address, headers }
  })

export interface ServeProcess {
  /** The JSON lines it printed so far. */
  readonly lines: () => Array<Record<string, unknown>>
  /** Everything it printed (stdout and stderr). */
  readonly output: () => string
  /** Completes once it printed a line with this `event` (or exited). */
  readonly seen: (event: string) => Effect.Effect<void>
  /** Completes with the exit code once it exited. */
  readonly exited: Effect.Effect<number | null>
  readonly signal: (signal: NodeJS.Signals) => void
  /** The port of its `listening` line. */
  readonly port: Effect.Effect<number>
}

/** `effect-tls serve` as a process (`command args`); the scope kills it. */
export const spawnServe = (command: string, args: ReadonlyArray<string>): Effect.Effect<ServeProcess, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { notify, until } = makeCondition()
    let out = ""
    let exit: number | null | undefined
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(command, [...args], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] })
        const take = (d: Buffer) => {
          out += d.toString()
          notify()
        }
        child.stdout.on("data", take)
        child.stderr.on("data", take)
        child.on("error", (e) => {
          out += String(e)
          exit = null
          notify()
        })
        child.on("exit", (code) => {
          exit = code
          notify()
        })
        return child
      }),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    const lines = () => out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>)
    const seen = (event: string) => until(() => exit !== undefined || lines().some((l) => l.event === event))
    return {
      lines,
      output: () => out,
      seen,
      exited: Effect.map(until(() => exit !== undefined), () => exit ?? null),
      signal: (signal) => child.kill(signal),
      port: Effect.flatMap(seen("listening"), () => {
        const line = lines().find((l) => l.event === "listening")
        return line === undefined
          ? Effect.dieMessage(`serve exited (${exit}) without listening; it printed:\n${out}`)
          : Effect.succeed(Number(String(line.address).split(":").pop()))
      })
    }
  })
