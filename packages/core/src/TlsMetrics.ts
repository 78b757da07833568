/**
 * The metrics effect-tls keeps, as `effect/Metric` values: read them with
 * `Metric.value(TlsMetrics.bytesReceived)` or `Metric.snapshot`, or export
 * them with `@effect/opentelemetry` (its metric reader reads Effect's
 * registry). They live in Effect's global registry, like every
 * `effect/Metric`, so they count every connection of the process; the
 * fiber's `Effect.tagMetrics` labels are not added to them.
 *
 * | name | kind | tags |
 * | --- | --- | --- |
 * | `tls.handshakes` | counter | `effect_tls.role` (`client`, `server`), `effect_tls.outcome` (`success`, `failure`, `interrupted`), `error.type` (the error's `_tag`, on failure) |
 * | `tls.handshake.duration` | histogram, seconds | `effect_tls.role`, `effect_tls.outcome` |
 * | `tls.io` | counter, bytes | `network.io.direction` (`receive`, `transmit`) |
 * | `tls.open_connections` | counter (up and down) | none |
 *
 * Handshakes are those of `Tls.connect`, `Tls.upgrade`, and connections a
 * `Tls.listen` server accepts (`accept`, `serve`), on every path; a server
 * handshake includes reading the ClientHello and consulting `SniResolver`
 * and `AlpnSelector`, so a client refused there counts as a failure. Bytes
 * are application data (plaintext) that `read` returned and `write`
 * accepted, counted the same way on the sans-IO and the native path. Open
 * connections are those whose handshake completed and that are not closed
 * (their scope closed, or `abort`) yet.
 *
 * Spans: `Tls.connect` runs in a `tls.connect` span, every connection a
 * server accepts in a `tls.accept` span, and every handshake in a
 * `tls.handshake` span inside them (or inside the caller's span, for
 * `Tls.upgrade`). Their attributes follow OpenTelemetry's semantic
 * conventions: `tls.protocol.name`, `tls.protocol.version`, `tls.cipher`,
 * `tls.next_protocol`, `tls.resumed`, `tls.established`, `server.address`
 * (the SNI name on the handshake span), `server.port`,
 * `network.peer.address`, `network.peer.port`, `error.type` (the `_tag`);
 * and `effect_tls.role`, `effect_tls.authorized`, `effect_tls.alert`,
 * `effect_tls.alert.direction`, `effect_tls.error.code` (verify or library
 * code), `effect_tls.error.phase`, `effect_tls.error.reason`,
 * `effect_tls.error.option` where none applies. With the tracer disabled
 * (`Effect.withTracerEnabled(false)`) no span is made.
 *
 * @since 0.3.0
 */
import type * as Metric from "effect/Metric"
import * as internal from "./internal/telemetry.js"

/**
 * TLS handshakes that ended, tagged `effect_tls.role`, `effect_tls.outcome`
 * and, on failure, `error.type` (the error's `_tag`). Read one series with
 * `Metric.tagged`, e.g.
 * `TlsMetrics.handshakes.pipe(Metric.tagged("effect_tls.role", "client"), Metric.tagged("effect_tls.outcome", "success"))`.
 *
 * @since 0.3.0
 * @category metrics
 */
export const handshakes: Metric.Metric.Counter<number> = internal.handshakes

/**
 * How long TLS handshakes took, in seconds (0.5 ms to 16 s, doubling),
 * tagged `effect_tls.role` and `effect_tls.outcome`.
 *
 * @since 0.3.0
 * @category metrics
 */
export const handshakeDuration: Metric.Metric.Histogram<number> = internal.handshakeDuration

/**
 * Application data bytes (plaintext) that `read` returned, on every
 * connection: `tls.io` with `network.io.direction` `receive`.
 *
 * @since 0.3.0
 * @category metrics
 */
export const bytesReceived: Metric.Metric.Counter<number> = internal.bytesReceived

/**
 * Application data bytes (plaintext) that `write` accepted, on every
 * connection: `tls.io` with `network.io.direction` `transmit`.
 *
 * @since 0.3.0
 * @category metrics
 */
export const bytesSent: Metric.Metric.Counter<number> = internal.bytesSent

/**
 * Connections whose handshake completed and that are not closed yet.
 *
 * @since 0.3.0
 * @category metrics
 */
export const openConnections: Metric.Metric.Counter<number> = internal.openConnections
