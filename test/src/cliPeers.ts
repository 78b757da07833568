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

