/**
 * A key log file on Bun: NSS key log lines appended to a file, for the
 * `keylog` option. The same as `@effect-tls/node`'s `NodeKeylog` (Bun
 * runs `node:fs`).
 *
 * Bun's own TLS sockets (the native path of `BunTls.layer`) have no key
 * log hook: a connection with a `keylog` takes the sans-IO path, whose
 * engine (node:tls as Bun implements it) reports the lines.
 *
 * @since 0.3.0
 */
import * as NodeKeylog from "@effect-tls/node/NodeKeylog"
import type { TlsConfigError } from "@effect-tls/core/TlsError"
import type { Keylog } from "@effect-tls/core/TlsOptions"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * Open `path` for appending (mode 0600 when created) and give the sink
 * that appends each line to it; see `NodeKeylog.file`.
 *
 * @since 0.3.0
 * @category constructors
 */
export const file: (path: string) => Effect.Effect<Keylog, TlsConfigError, Scope.Scope> = NodeKeylog.file
