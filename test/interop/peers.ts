/** Real TLS peers (the `openssl` CLI) as scoped Effects. */
import { Effect, Scope } from "effect"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import * as net from "node:net"
import { makeCondition } from "../src/condition.js"

export interface Peer {
  readonly process: ChildProcessWithoutNullStreams
  /** Everything the peer printed on stdout so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** Completes when stdout contains `text`. */
  readonly printed: (text: string | RegExp) => Effect.Effect<void>
  /** Completes when stdout or stderr contains `text` (the two pipes are not ordered). */
  readonly said: (text: string | RegExp) => Effect.Effect<void>
  /** Completes with the exit code when the process exits. */
  readonly exited: Effect.Effect<number | null>
  readonly write: (text: string) => Effect.Effect<void>
}

/** Spawn `command`; the scope kills it (SIGKILL) and waits for its exit. */
export const spawnPeer = (command: string, args: ReadonlyArray<string>): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.gen(function*() {
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(command, [...args], { stdio: ["pipe", "pipe", "pipe"] })),
      (child) =>
        Effect.async<void>((resume) => {
          if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill("SIGKILL")
        })
    )
    let out = ""
    let err = ""
    const { notify, until } = makeCondition()
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString()
      notify()
    })
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString()
      notify()
    })
    child.stdin.on("error", () => {})
    let exitCode: number | null | undefined
    child.on("exit", (code) => {
      exitCode = code
      notify()
    })
    return {
      process: child,
      stdout: () => out,
      stderr: () => err,
      printed: (text) => until(() => (typeof text === "string" ? out.includes(text) : text.test(out))),
      said: (text) => until(() => (typeof text === "string" ? (out + err).includes(text) : text.test(out + err))),
      exited: Effect.map(until(() => exitCode !== undefined), () => exitCode ?? null),
      write: (text) =>
        Effect.async<void>((resume) => {
          child.stdin.write(text, () => resume(Effect.void))
        })
    }
  })

/** A free port on 127.0.0.1 (bound, read, released). */
export const freePort = Effect.async<number>((resume) => {
  const s = net.createServer()
  s.listen(0, "127.0.0.1", () => {
    const port = (s.address() as net.AddressInfo).port
    s.close(() => resume(Effect.succeed(port)))
  })
})

/**
 * `openssl s_server` on a free port of 127.0.0.1, ready to accept (it
 * prints "ACCEPT" once it listens).
 */
export const sServer = (args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const port = yield* freePort
    const peer = yield* spawnPeer("openssl", ["s_server", "-accept", `127.0.0.1:${port}`, ...args])
    yield* peer.printed("ACCEPT")
    return { port, peer }
  })
