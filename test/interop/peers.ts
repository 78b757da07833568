/**
 * Real TLS peers (the `openssl` CLI, GnuTLS's `gnutls-cli`) as scoped
 * Effects, and the rule for peers that may be missing: a case that needs
 * one is skipped with one line naming it (`withPeers`), never left to hang.
 */
import { Effect, Scope } from "effect"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { accessSync, constants, statSync } from "node:fs"
import * as net from "node:net"
import { delimiter, join } from "node:path"
import { expect, it as vitestIt } from "vitest"
import { makeCondition } from "../src/condition.js"

/** Where each optional peer comes from, for the skip note. */
const packages: Record<string, string> = {
  "gnutls-cli": "Debian's gnutls-bin",
  "gnutls-serv": "Debian's gnutls-bin",
  curl: "Debian's curl"
}

const found = new Map<string, boolean>()

/** Whether `command` is an executable file in a directory of `PATH` (what `spawn` will find). */
export const onPath = (command: string): boolean => {
  let known = found.get(command)
  if (known === undefined) {
    known = (process.env.PATH ?? "").split(delimiter).some((dir) => {
      if (dir === "") return false
      try {
        const file = join(dir, command)
        accessSync(file, constants.X_OK)
        return statSync(file).isFile()
      } catch {
        return false
      }
    })
    found.set(command, known)
  }
  return known
}

/**
 * `test` itself when every command in `commands` is on `PATH`. Otherwise a
 * stand-in of the same name that skips with a note naming what is missing
 * (the default reporter prints it on the test's line), or fails when
 * `EFFECT_TLS_REQUIRE_PEERS` is set (`.ci/run` sets it after installing the
 * peers, so CI cannot pass by skipping them).
 *
 *   withPeers(["gnutls-cli"], it.scoped)("gnutls-cli sees ...", () => Effect.gen(...))
 */
export const withPeers = <T extends (name: string, ...rest: Array<any>) => unknown>(
  commands: ReadonlyArray<string>,
  test: T
): T => {
  const missing = commands.filter((c) => !onPath(c))
  if (missing.length === 0) return test
  const note = `needs ${missing.map((c) => packages[c] ? `${c} (${packages[c]})` : c).join(", ")}: not on PATH`
  const required = (process.env.EFFECT_TLS_REQUIRE_PEERS ?? "") !== ""
  return ((name: string) =>
    vitestIt(name, (ctx) => {
      if (required) expect.fail(`${note}, and EFFECT_TLS_REQUIRE_PEERS is set`)
      ctx.skip(note)
    })) as unknown as T
}

export interface Peer {
  readonly process: ChildProcessWithoutNullStreams
  /** Everything the peer printed on stdout so far. */
  readonly stdout: () => string
  readonly stderr: () => string
  /** Completes when stdout contains `text`. */
  readonly printed: (text: string | RegExp) => Effect.Effect<void>
  /** Completes when stdout or stderr contains `text` (the two pipes are not ordered). */
  readonly said: (text: string | RegExp) => Effect.Effect<void>
  /** Completes when `check(stdout, stderr)` holds for what the peer printed so far. */
  readonly shows: (what: string, check: (stdout: string, stderr: string) => boolean) => Effect.Effect<void>
  /** Completes with the exit code when the process has exited and its output is read. */
  readonly exited: Effect.Effect<number | null>
  readonly write: (text: string) => Effect.Effect<void>
}

/**
 * Spawn `command`; the scope kills it (SIGKILL) and waits for its exit.
 * Waiting for output that can no longer come (the process could not be
 * started, or it closed its output without printing the text) is a defect
 * naming the command and what it printed, not a wait until the test's
 * timeout.
 */
export const spawnPeer = (command: string, args: ReadonlyArray<string>): Effect.Effect<Peer, never, Scope.Scope> =>
  Effect.gen(function*() {
    let spawnError: Error | undefined
    let closed = false
    const { notify, until } = makeCondition()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const child = spawn(command, [...args], { stdio: ["pipe", "pipe", "pipe"] })
        // ENOENT and friends arrive as an event; unheard, they would be an uncaught exception.
        child.on("error", (e) => {
          spawnError = e
          notify()
        })
        child.on("close", () => {
          closed = true
          notify()
        })
        return child
      }),
      (child) =>
        Effect.async<void>((resume) => {
          if (spawnError !== undefined || child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
          child.once("exit", () => resume(Effect.void))
          child.kill("SIGKILL")
        })
    )
    let out = ""
    let err = ""
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
    /** Wait until `done()`, or die once the process can print nothing more. */
    const waitFor = (what: string, done: () => boolean) =>
      until(() => done() || spawnError !== undefined || closed).pipe(
        Effect.flatMap(() =>
          done()
            ? Effect.void
            : Effect.dieMessage(
              spawnError !== undefined
                ? `${command}: could not be started (${spawnError.message})`
                : `${command} ${args.join(" ")}: exited (${exitCode}) without printing ${what}; it printed:\n${out}${err}`
            )
        )
      )
    const matches = (text: string | RegExp, s: string) => (typeof text === "string" ? s.includes(text) : text.test(s))
    return {
      process: child,
      stdout: () => out,
      stderr: () => err,
      printed: (text) => waitFor(String(text), () => matches(text, out)),
      said: (text) => waitFor(String(text), () => matches(text, out + err)),
      shows: (what, check) => waitFor(what, () => check(out, err)),
      exited: Effect.flatMap(
        // After "close" rather than "exit": by then everything it printed has been read.
        until(() => (exitCode !== undefined && closed) || spawnError !== undefined),
        () => spawnError !== undefined ? Effect.dieMessage(`${command}: could not be started (${spawnError.message})`) : Effect.succeed(exitCode ?? null)
      ),
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
