import * as Command from "@effect/cli/Command"
import { readFileSync } from "node:fs"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import { subcommands } from "./cli.js"
import { exitCodes } from "./exitCodes.js"
import * as Style from "./style.js"

/**
 * The package's version, from its package.json (two levels up from both
 * src/internal and dist/internal).
 *
 * @internal
 */
export const version: string = (() => {
  try {
    return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version
  } catch {
    return "unknown"
  }
})()

/** @internal */
export const command = Command.make("effect-tls").pipe(
  Command.withDescription("Probe TLS servers, terminate TLS in front of TCP backends, or run a local demo"),
  Command.withSubcommands([subcommands.probe, subcommands.serve, subcommands.demo])
)

const cli = Command.run(command, { name: "effect-tls", version })

const messageOf = (error: unknown): string => {
  if (typeof error !== "object" || error === null) return String(error)
  const { _tag, message, code } = error as { _tag?: unknown; message?: unknown; code?: unknown }
  const name = typeof _tag === "string" ? _tag : error instanceof Error ? error.name : "Error"
  const text = typeof message === "string" && message !== "" ? message : typeof code === "string" ? code : String(error)
  return `${name}: ${text}`
}

const ANSI = /\u001b\[[0-9;]*m/g

const strip = (args: ReadonlyArray<unknown>) => args.map((a) => (typeof a === "string" ? a.replace(ANSI, "") : a))

/**
 * @effect/cli renders help and errors with ANSI styles: off a terminal (or
 * with NO_COLOR) the console drops them, so only a TTY gets colour.
 */
const withoutAnsi = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((console) =>
    Effect.withConsole(effect, {
      ...console,
      log: (...args) => console.log(...strip(args)),
      error: (...args) => console.error(...strip(args)),
      unsafe: {
        ...console.unsafe,
        log: (...args) => console.unsafe.log(...strip(args)),
        error: (...args) => console.unsafe.error(...strip(args))
      }
    })
  )

/**
 * The library's log lines (a failed handshake at DEBUG, a close that ran out
 * of grace at WARN, ...) go to stderr, so stdout carries only the command's
 * own output (the probe report, serve's JSON lines).
 */
const logToStderr = Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.stringLogger))

/** @internal */
export const run = (argv: ReadonlyArray<string>) =>
  (Style.useColor(process.stdout) ? cli(argv) : withoutAnsi(cli(argv))).pipe(
    Effect.provide(logToStderr),
    Effect.as(exitCodes.ok as number),
    Effect.catchAll((error: unknown) => {
      if (ValidationError.isValidationError(error)) {
        // @effect/cli has printed the help or the problem already.
        return Effect.succeed(ValidationError.isHelpRequested(error) ? exitCodes.ok : exitCodes.usage)
      }
      if (typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "ExitWith") {
        const { code, detail } = error as { code: number; detail?: string }
        return Effect.as(detail === undefined ? Effect.void : Console.error(`effect-tls: ${detail}`), code)
      }
      if (typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "TlsConfigError") {
        return Effect.as(Console.error(`effect-tls: ${messageOf(error)}`), exitCodes.usage)
      }
      return Effect.as(Console.error(`effect-tls: ${messageOf(error)}`), exitCodes.internal)
    }),
    Effect.catchAllCause((cause) =>
      Effect.as(Console.error(`effect-tls: unexpected failure\n${Cause.pretty(cause)}`), exitCodes.internal)
    )
  )
