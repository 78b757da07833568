/**
 * Tracing and metrics, with Effect's own tools.
 *
 * Theory of operation.
 *
 * - Spans. `Tls.connect` runs in a `tls.connect` span (kind client), every
 *   connection a server accepts in a `tls.accept` span (kind server), and
 *   every handshake (connect, accept, upgrade; both paths) in a
 *   `tls.handshake` span inside it. They are `Effect.useSpan` spans: with
 *   the tracer disabled (`Effect.withTracerEnabled(false)`) Effect makes a
 *   no-op span and the tracer is never called. Attributes follow
 *   OpenTelemetry's semantic conventions where they name the thing
 *   (`tls.protocol.name`, `tls.protocol.version`, `tls.cipher`,
 *   `tls.next_protocol`, `tls.resumed`, `tls.established`, `server.address`
 *   (the SNI name, which replaced `tls.client.server_name`), `server.port`,
 *   `network.peer.address`, `network.peer.port`, `error.type`); what they do
 *   not name is under `effect_tls.` (`effect_tls.role`, `effect_tls.alert`,
 *   `effect_tls.alert.direction`, `effect_tls.error.code`, ...). Nothing
 *   secret and nothing from certificates is ever an attribute.
 * - Handshake metrics are updated once per handshake, when it ends (one
 *   clock reading at each end; no fiber, no Effect per update).
 * - Bytes and open connections are counted by the driver in plain
 *   JavaScript: `received`, `sent`, `opened`, `closed` are synchronous
 *   updates of a counter whose registry entry is looked up once (an
 *   untagged `unsafeUpdate` of a metric made from its full key), so a read
 *   or a write pays one addition.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type { TlsConnection } from "../TlsConnection.js"
import type { ConnectionInfo } from "../TlsEngine.js"

// Metrics.

/** @internal */
export const handshakes = Metric.counter("tls.handshakes", {
  description: "TLS handshakes that ended, by effect_tls.role, effect_tls.outcome and error.type",
  incremental: true
})

/** @internal */
export const handshakeDuration = Metric.histogram(
  "tls.handshake.duration",
  // 0.5 ms to 16 s, doubling.
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "TLS handshake duration in seconds, by effect_tls.role and effect_tls.outcome"
)

const ioKey = MetricKey.counter("tls.io", {
  description: "Application data bytes (plaintext) read from and written to TLS connections, by network.io.direction",
  incremental: true
})

/** @internal */
export const bytesReceived = Metric.fromMetricKey(MetricKey.tagged(ioKey, "network.io.direction", "receive"))

/** @internal */
export const bytesSent = Metric.fromMetricKey(MetricKey.tagged(ioKey, "network.io.direction", "transmit"))

/** @internal */
export const openConnections = Metric.counter("tls.open_connections", {
  description: "TLS connections whose handshake completed and that are not closed yet"
})

/** No extra tags: the metric's own registry entry, looked up once. */
const NO_TAGS: ReadonlyArray<MetricLabel.MetricLabel> = []

/** Plaintext bytes a read returned. Synchronous; for the driver. @internal */
export const received = (bytes: number): void => bytesReceived.unsafeUpdate(bytes, NO_TAGS)

/** Plaintext bytes a write handed to the engine. Synchronous; for the driver. @internal */
export const sent = (bytes: number): void => bytesSent.unsafeUpdate(bytes, NO_TAGS)

/** A connection completed its handshake. Synchronous; for the driver. @internal */
export const opened = (): void => openConnections.unsafeUpdate(1, NO_TAGS)

/** A connection that was counted as open is closed. Synchronous; for the driver. @internal */
export const closed = (): void => openConnections.unsafeUpdate(-1, NO_TAGS)

type Role = "client" | "server"
type Outcome = "success" | "failure" | "interrupted"

/**
 * Tags of a handshake's metrics, one array per combination (the metric
 * finds its registry entry by the array's identity). Error tags are a
 * small closed set.
 */
const labelCache = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()
const labels = (role: Role, outcome: Outcome, errorType: string | undefined) => {
  const key = `${role}|${outcome}|${errorType ?? ""}`
  let tags = labelCache.get(key)
  if (tags === undefined) {
    tags = [MetricLabel.make("effect_tls.role", role), MetricLabel.make("effect_tls.outcome", outcome)]
    if (errorType !== undefined) tags = [...tags, MetricLabel.make("error.type", errorType)]
    labelCache.set(key, tags)
  }
  return tags
}

// Attributes.

/** `"TLSv1.3"` -> `["tls", "1.3"]` (OpenTelemetry's `tls.protocol.name` and `.version`). */
const protocolParts = (protocol: string): readonly [string, string] => {
  const m = /^(TLS|SSL)v?(\d+(?:\.\d+)?)$/i.exec(protocol)
  return m === null ? ["tls", protocol] : [m[1]!.toLowerCase(), m[2]!]
}

/** `"127.0.0.1:5000"`, `"::1:5000"`: network.peer.address and .port. */
const setPeer = (span: Tracer.Span, peer: string | undefined): void => {
  if (peer === undefined) return
  const colon = peer.lastIndexOf(":")
  const port = colon < 0 ? NaN : Number(peer.slice(colon + 1))
  if (colon > 0 && Number.isInteger(port) && peer.slice(colon + 1) !== "") {
    span.attribute("network.peer.address", peer.slice(0, colon))
    span.attribute("network.peer.port", port)
  } else {
    span.attribute("network.peer.address", peer)
  }
}

/** What a handshake negotiated. */
const setNegotiated = (span: Tracer.Span, info: ConnectionInfo): void => {
  const [name, version] = protocolParts(info.protocol)
  span.attribute("tls.established", true)
  span.attribute("tls.protocol.name", name)
  span.attribute("tls.protocol.version", version)
  span.attribute("tls.cipher", info.cipher)
  if (Option.isSome(info.alpnProtocol)) span.attribute("tls.next_protocol", info.alpnProtocol.value)
  if (Option.isSome(info.servername)) span.attribute("server.address", info.servername.value)
  span.attribute("tls.resumed", info.sessionReused)
  span.attribute("effect_tls.authorized", info.authorized)
}

/** The failure's `_tag`, or `undefined` when the cause holds no failure. */
const errorTypeOf = (cause: Cause.Cause<unknown>): string | undefined => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return Cause.isInterruptedOnly(cause) ? undefined : "_OTHER"
  const e = failure.value
  return typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" ? e._tag : "_OTHER"
}

/** `error.type` and the failure's code, alert or phase (never a message, never key material). */
const setFailure = (span: Tracer.Span, cause: Cause.Cause<unknown>): void => {
  const errorType = errorTypeOf(cause)
  if (errorType === undefined) return
  span.attribute("error.type", errorType)
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure) || typeof failure.value !== "object" || failure.value === null) return
  const e = failure.value as Record<string, unknown>
  const text = (field: string, attribute: string) => {
    const v = e[field]
    if (typeof v === "string") span.attribute(attribute, v)
  }
  switch (errorType) {
    case "TlsAlertError":
      text("alert", "effect_tls.alert")
      text("direction", "effect_tls.alert.direction")
      break
    case "TlsCertificateError":
    case "TlsProtocolError":
      text("code", "effect_tls.error.code")
      break
    case "TlsTransportError":
      text("reason", "effect_tls.error.reason")
      text("code", "effect_tls.error.code")
      break
    case "TlsTimeoutError":
    case "TlsUnexpectedEof":
      text("phase", "effect_tls.error.phase")
      break
    case "TlsConfigError":
      text("option", "effect_tls.error.option")
      break
  }
}

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): Outcome =>
  exit._tag === "Success" ? "success" : Cause.isInterruptedOnly(exit.cause) ? "interrupted" : "failure"

// Spans.

/**
 * Run `effect` in the span `name` (its parent for what it runs), ended by
 * Effect; `ended` records the outcome on it first. The peer's address is
 * on it from the start.
 */
const traced = <E, R>(
  name: string,
  options: Tracer.SpanOptions,
  peer: string | undefined,
  effect: Effect.Effect<TlsConnection, E, R>,
  ended: (span: Tracer.Span, exit: Exit.Exit<TlsConnection, E>) => void
): Effect.Effect<TlsConnection, E, R> =>
  Effect.useSpan(name, options, (span) => {
    setPeer(span, peer)
    return Effect.onExit(Effect.withParentSpan(effect, span), (exit) => Effect.sync(() => ended(span, exit)))
  })

/**
 * Run `handshake` in a `tls.handshake` span, and count it: `tls.handshakes`
 * and `tls.handshake.duration` by role and outcome (and `error.type`).
 * @internal
 */
export const handshake = <E, R>(
  role: Role,
  peer: string | undefined,
  handshake: Effect.Effect<TlsConnection, E, R>
): Effect.Effect<TlsConnection, E, R> =>
  Effect.clockWith((clock) => {
    const started = clock.unsafeCurrentTimeNanos()
    return traced(
      "tls.handshake",
      { captureStackTrace: false, attributes: { "effect_tls.role": role } },
      peer,
      handshake,
      (span, exit) => {
        const seconds = Number(clock.unsafeCurrentTimeNanos() - started) / 1e9
        const outcome = outcomeOf(exit)
        const errorType = exit._tag === "Failure" ? errorTypeOf(exit.cause) : undefined
        handshakes.unsafeUpdate(1, labels(role, outcome, errorType))
        handshakeDuration.unsafeUpdate(seconds, labels(role, outcome, undefined))
        if (exit._tag === "Success") setNegotiated(span, exit.value.info)
        else {
          span.attribute("tls.established", false)
          setFailure(span, exit.cause)
        }
      }
    )
  })

/** Run `connect` in a `tls.connect` span (kind client). @internal */
export const connect = <E, R>(
  host: string,
  port: number,
  connect: Effect.Effect<TlsConnection, E, R>
): Effect.Effect<TlsConnection, E, R> =>
  traced(
    "tls.connect",
    {
      kind: "client",
      captureStackTrace: false,
      attributes: { "effect_tls.role": "client", "server.address": host, "server.port": port }
    },
    undefined,
    connect,
    (span, exit) => {
      if (exit._tag === "Success") setPeer(span, exit.value.remoteAddress)
      else setFailure(span, exit.cause)
    }
  )

/** Run a server's handshake of an accepted connection in a `tls.accept` span (kind server). @internal */
export const accept = <E, R>(
  port: number,
  peer: string | undefined,
  accept: Effect.Effect<TlsConnection, E, R>
): Effect.Effect<TlsConnection, E, R> =>
  traced(
    "tls.accept",
    { kind: "server", captureStackTrace: false, attributes: { "effect_tls.role": "server", "server.port": port } },
    peer,
    accept,
    (span, exit) => {
      if (exit._tag === "Success") {
        const name = exit.value.info.servername
        if (Option.isSome(name)) span.attribute("server.address", name.value)
      } else setFailure(span, exit.cause)
    }
  )
