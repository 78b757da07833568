/** @internal */
import { TlsConfigError } from "@effect-tls/core/TlsError"
import type { Keylog } from "@effect-tls/core/TlsOptions"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { open } from "node:fs/promises"

const code = (e: unknown): string =>
  typeof e === "object" && e !== null && typeof (e as { code?: unknown }).code === "string"
    ? (e as { code: string }).code
    : "failed"

/** @internal */
export const file = (path: string): Effect.Effect<Keylog, TlsConfigError, Scope.Scope> =>
  Effect.gen(function*() {
    if (typeof path !== "string" || path.length === 0) {
      return yield* Effect.fail(new TlsConfigError({ option: "keylog", reason: "expected a file path" }))
    }
    const handle = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => open(path, "a", 0o600),
        catch: (e) => new TlsConfigError({ option: "keylog", reason: `could not open ${path} for appending (${code(e)})`, cause: e })
      }),
      (h) => Effect.promise(() => h.close().catch(() => undefined))
    )
    let closed = false
    yield* Effect.addFinalizer(() => Effect.sync(() => closed = true))
    // One write at a time, each a whole line: lines never interleave.
    const lock = yield* Effect.makeSemaphore(1)
    return (line: string) =>
      lock.withPermits(1)(
        Effect.suspend(() =>
          closed ? Effect.void : Effect.tryPromise({
            try: () => handle.appendFile(`${line}\n`, "latin1"),
            catch: (e) => code(e)
          }).pipe(
            Effect.catchAll((reason) =>
              Effect.logWarning(`keylog: a line could not be appended to ${path} (${reason}); it was dropped`)
            )
          )
        )
      )
  })
