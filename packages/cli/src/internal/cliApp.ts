import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { subcommands } from "./cli.js"
import { exitCodes } from "./exitCodes.js"

/** @internal */
export const version = "0.2.0"

/** @internal */
export const command = Command.make("effect-tls").pipe(
  Command.withDescription("Probe TLS servers, terminate TLS in front of TCP backends, or run a local demo"),
  Command.withSubcommands([subcommands.probe, subcommands.serve, subcommands.demo])
)

const cli = Command.run(command, { name: "effect-tls", version })

const messageOf = (error: unknown): string =>
  typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" &&
    error.message !== ""
    ? `${(error as { _tag?: string })._tag ?? "Error"}: ${error.message}`
    : String(error)

/** @internal */
export const run = (argv: ReadonlyArray<string>) =>
  cli(argv).pipe(
    Effect.as(exitCodes.ok as number),
    Effect.catchAll((error: unknown) => {
      if (ValidationError.isValidationError(error)) {
        // @effect/cli has printed the help or the problem already.
        return Effect.succeed(ValidationError.isHelpRequested(error) ? exitCodes.ok : exitCodes.usage)
      }
      if (typeof error === "object" && error !== null && (error as { _tag?: unknown })._tag === "ExitWith") {
        const { code, message } = error as { code: number; message?: string }
        return Effect.as(message === undefined ? Effect.void : Console.error(`effect-tls: ${message}`), code)
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
