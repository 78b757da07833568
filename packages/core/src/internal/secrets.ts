/**
 * A connection's secrets: exported keying material (RFC 5705, RFC 8446
 * section 7.5) and NSS key log lines, on engines that give them out.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as Readiness from "../Readiness.js"
import type { TlsConnection, TlsConnectionError } from "../TlsConnection.js"
import type { TlsEngine } from "../TlsEngine.js"
import { TlsConfigError, TlsProtocolError } from "../TlsError.js"
import type { Keylog } from "../TlsOptions.js"

/** 255 times the shortest TLS 1.3 hash (SHA-256): what HKDF-Expand can give for every suite. */
export const MAX_EXPORT_LENGTH = 255 * 32

/** A TLS 1.3 label is "tls13 " + label, at most 255 bytes. */
const MAX_LABEL_LENGTH = 249

/** RFC 5705 section 4: the context's length is a uint16. */
const MAX_CONTEXT_LENGTH = 0xffff

/** Labels TLS itself uses with its PRF (RFC 5705 section 4, RFC 7627): never exporter labels. */
const RESERVED_LABELS: ReadonlySet<string> = new Set([
  "client finished",
  "server finished",
  "master secret",
  "extended master secret",
  "key expansion"
])

const invalid = (argument: string, reason: string) =>
  new TlsConfigError({ option: `exportKeyingMaterial.${argument}`, reason })

/** Why the exporter's arguments are refused, if they are. */
export const checkExporter = (length: unknown, label: unknown, context: unknown): TlsConfigError | undefined => {
  if (typeof length !== "number" || !Number.isInteger(length) || length < 1 || length > MAX_EXPORT_LENGTH) {
    return invalid("length", `expected an integer from 1 to ${MAX_EXPORT_LENGTH}`)
  }
  if (typeof label !== "string" || label.length === 0 || label.length > MAX_LABEL_LENGTH || !/^[\x20-\x7e]+$/.test(label)) {
    return invalid("label", `expected 1 to ${MAX_LABEL_LENGTH} printable ASCII characters`)
  }
  if (RESERVED_LABELS.has(label)) return invalid("label", `"${label}" is reserved by TLS itself`)
  if (context !== undefined) {
    if (!(context instanceof Uint8Array)) return invalid("context", "expected a Uint8Array (or nothing)")
    if (context.length > MAX_CONTEXT_LENGTH) return invalid("context", `longer than ${MAX_CONTEXT_LENGTH} bytes`)
  }
  return undefined
}

/**
 * A connection's `exportKeyingMaterial`: arguments checked first, then the
 * connection's state (`refusal`), then the engine.
 */
export const exporter = (
  engine: TlsEngine,
  refusal: () => TlsConnectionError | undefined
): TlsConnection["exportKeyingMaterial"] =>
(length, label, context) =>
  Effect.suspend(() => {
    const bad = checkExporter(length, label, context)
    if (bad !== undefined) return Effect.fail(bad)
    const refused = refusal()
    if (refused !== undefined) return Effect.fail(refused)
    if (engine.secrets === undefined) {
      return Effect.fail(
        new TlsProtocolError({
          code: "ERR_TLS_EXPORTER_UNAVAILABLE",
          reason: "this connection's TLS engine does not export keying material"
        })
      )
    }
    return engine.secrets.exportKeyingMaterial(length, label, context)
  })

/** RFC 9266 section 2. */
const CHANNEL_BINDING_LABEL = "EXPORTER-Channel-Binding"
const CHANNEL_BINDING_LENGTH = 32
const EMPTY = new Uint8Array(0)

/** The `tls-exporter` channel binding (RFC 9266), TLS 1.3 only. */
export const tlsExporter = (connection: TlsConnection): Effect.Effect<Uint8Array, TlsConnectionError> =>
  connection.info.protocol === "TLSv1.3"
    ? connection.exportKeyingMaterial(CHANNEL_BINDING_LENGTH, CHANNEL_BINDING_LABEL, EMPTY)
    : Effect.fail(
      new TlsProtocolError({
        code: "ERR_TLS_CHANNEL_BINDING_UNAVAILABLE",
        reason: `the tls-exporter channel binding needs TLS 1.3; this connection negotiated ${connection.info.protocol}`
      })
    )

/**
 * Hand the engine's key log lines to `sink`, in order, each after the
 * last one's sink completed. Lines are taken from the engine in its own
 * step and run in a fiber started for each burst; the Effect returned
 * completes once every line so far was handed over. Closing the scope
 * waits for the lines still being handed over, and drops any that come
 * later. An engine that reports no lines gets no listener.
 */
export const attachKeylog = (
  engine: TlsEngine,
  sink: Keylog
): Effect.Effect<Effect.Effect<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const onKeylog = engine.secrets?.onKeylog
    if (onKeylog === undefined) return Effect.void
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const pending: Array<string> = []
    let busy = false
    let closed = false
    const idle = Readiness.make()
    const handOver: Effect.Effect<void> = Effect.suspend(() => {
      const line = pending.shift()
      if (line === undefined || closed) {
        pending.length = 0
        busy = false
        idle.signal()
        return Effect.void
      }
      return Effect.zipRight(
        // The cause may hold the line: only the fact is reported.
        Effect.catchAllCause(sink(line), () => Effect.logWarning("keylog: the sink failed; a key log line was dropped")),
        handOver
      )
    })
    onKeylog((line) => {
      if (closed) return
      pending.push(line)
      if (busy) return
      busy = true
      runFork(handOver)
    })
    const settled = idle.until(() => !busy)
    yield* Effect.addFinalizer(() => Effect.zipRight(settled, Effect.sync(() => closed = true)))
    return settled
  })
