// The README's tracing-and-metrics example, kept here so that it type-checks.
import { NodeSdk } from "@effect/opentelemetry"
import { Tls, TlsMetrics } from "@effect-tls/core"
import { NodeTls } from "@effect-tls/node"
import { ConsoleMetricExporter, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics"
import { BatchSpanProcessor, ConsoleSpanExporter } from "@opentelemetry/sdk-trace-base"
import { Effect, Layer, Metric } from "effect"

// Effect's spans and metrics (TlsMetrics among them) go to OpenTelemetry. In production, use
// OTLP exporters (@opentelemetry/exporter-trace-otlp-http, ...) instead of the console ones.
const Telemetry = NodeSdk.layer(() => ({
  resource: { serviceName: "my-service" },
  spanProcessor: new BatchSpanProcessor(new ConsoleSpanExporter()),
  metricReader: new PeriodicExportingMetricReader({ exporter: new ConsoleMetricExporter(), exportIntervalMillis: 10_000 })
}))

const program = Effect.gen(function*() {
  const conn = yield* Tls.connect({ host: "example.com", port: 443, alpnProtocols: ["http/1.1"] })
  yield* conn.write("HEAD / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
  yield* conn.read
  // The metrics are effect/Metric values: read them in the program too.
  const received = yield* Metric.value(TlsMetrics.bytesReceived)
  yield* Effect.log(`${received.count} bytes received over TLS so far`)
}).pipe(Effect.scoped, Effect.withSpan("HEAD example.com"))

Effect.runPromise(program.pipe(Effect.provide(Layer.merge(NodeTls.layer, Telemetry))))
