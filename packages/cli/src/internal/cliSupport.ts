import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import { readFile } from "node:fs/promises"
import { exitCodes } from "./exitCodes.js"

/**
 * End the command with this exit code; `detail`, when given, is printed
 * on stderr first.
 *
 * @internal
 */
export class ExitWith extends Data.TaggedError("ExitWith")<{
  readonly code: number
  readonly detail?: string | undefined
}> {}

/** @internal */
export const usage = (detail: string) => new ExitWith({ code: exitCodes.usage, detail })

/** @internal */
export const readText = (path: string, what: string): Effect.Effect<string, ExitWith> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (e) => usage(`cannot read ${what} ${path}: ${(e as { code?: string }).code ?? String(e)}`)
  })

/**
 * `host`, `host:port` or `[v6]:port`.
 *
 * @internal
 */
export const parseHostPort = (
  text: string,
  defaultPort: number | undefined,
  what: string
): Effect.Effect<{ readonly host: string; readonly port: number }, ExitWith> =>
  Effect.suspend(() => {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text) ??
      (text.includes(":") && defaultPort !== undefined ? [text, text, undefined] as const : null)
    if (m === null || m[1] === undefined || m[1] === "") return Effect.fail(usage(`${what}: expected host[:port], got ${JSON.stringify(text)}`))
    const port = m[2] === undefined ? defaultPort : Number(m[2])
    if (port === undefined) return Effect.fail(usage(`${what}: a port is required in ${JSON.stringify(text)}`))
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Effect.fail(usage(`${what}: port out of range in ${JSON.stringify(text)}`))
    }
    return Effect.succeed({ host: m[1], port })
  })

/** @internal */
export const splitList = (text: string): Array<string> =>
  text.split(",").map((s) => s.trim()).filter((s) => s !== "")
