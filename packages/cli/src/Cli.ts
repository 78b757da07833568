/**
 * The `effect-tls` command line: `probe`, `serve` and `demo`, built with
 * `@effect/cli`. `run` parses the arguments, runs the subcommand and
 * answers the process exit code (see `Probe.exitCodes`); `bin.ts` is the
 * executable that provides the runtime.
 *
 * @since 0.2.0
 */
import type * as CliApp from "@effect/cli/CliApp"
import type { Tls } from "@effect-tls/core/Tls"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/cliApp.js"
import type { TlsPlatform } from "./TlsPlatform.js"

/**
 * The version `effect-tls --version` prints.
 *
 * @since 0.2.0
 * @category constants
 */
export const version: string = internal.version

/**
 * Run the command line `argv` (as `process.argv`: the runtime and the
 * script first) and answer the exit code. Never fails: errors are printed
 * on stderr and turned into their exit code.
 *
 * @since 0.2.0
 * @category running
 */
export const run: (
  argv: ReadonlyArray<string>
) => Effect.Effect<number, never, Tls | TlsPlatform | CliApp.CliApp.Environment> = internal.run
