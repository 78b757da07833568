/**
 * `effect-tls demo`: a TLS server and a TLS client on loopback, with
 * certificates generated on the spot (by the openssl CLI), printing what
 * they negotiated. It is what `npm start` runs.
 *
 * @since 0.2.0
 */
import type { Tls } from "@effect-tls/core/Tls"
import type { TlsError } from "@effect-tls/core/TlsError"
import type { TlsConnectionError } from "@effect-tls/core/TlsConnection"
import type * as Effect from "effect/Effect"
import * as internal from "./internal/demo.js"
import type { DemoPkiError } from "./internal/demoPki.js"

/**
 * What the demo can fail with: the certificates could not be made (no
 * openssl CLI), or a TLS error.
 *
 * @since 0.2.0
 * @category models
 */
export type DemoError = DemoPkiError | TlsError | TlsConnectionError

/**
 * Run the demo, printing each step with `Console`.
 *
 * @since 0.2.0
 * @category commands
 */
export const run: Effect.Effect<void, DemoError, Tls> = internal.run
