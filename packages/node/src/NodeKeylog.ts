/**
 * A key log file: NSS key log lines (the `SSLKEYLOGFILE` format Wireshark
 * reads) appended to a file, for the `keylog` option of any connection.
 *
 * @since 0.3.0
 */
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import type { Keylog } from "@effect-tls/core/TlsOptions"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/nodeKeylog.js"

/**
 * Open `path` for appending (created with mode 0600, owner only, when it
 * does not exist) and give the sink that appends each line to it, with
 * its line break. Lines of concurrent connections never interleave. The
 * file is closed when the scope closes; lines that come later are
 * dropped. A file that cannot be opened fails with `TlsConfigError`
 * (option `keylog`); a line that cannot be written is dropped with a
 * warning that names the file, never the line.
 *
 * Anyone who can read the file can decrypt every connection logged in
 * it: use it to debug, never by default.
 *
 * ```ts
 * import { Tls } from "@effect-tls/core"
 * import { NodeKeylog, NodeTls } from "@effect-tls/node"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const keylog = yield* NodeKeylog.file("keys.log")
 *   const conn = yield* Tls.connect({ host: "example.com", port: 443, keylog })
 *   yield* conn.write("GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
 * })
 * Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(NodeTls.layer)))
 * ```
 *
 * Works on Bun too (Bun runs `node:fs`); `BunKeylog.file` is the same.
 *
 * @since 0.3.0
 * @category constructors
 */
export const file: (path: string) => Effect.Effect<Keylog, TlsConfigError, Scope.Scope> = internal.file
