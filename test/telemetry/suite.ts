/**
 * Tracing and metrics (`TlsMetrics`), against a layer and a path: the spans
 * an in-memory tracer records for connect, accept, upgrade and their
 * handshakes (attributes on success and on failure), no span at all with
 * the tracer disabled, and the metrics read from Effect's registry.
 *
 * Real sockets on 127.0.0.1, port 0, a PKI generated when the suite starts.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as Tls from "@effect-tls/core/Tls"
import * as TlsMetrics from "@effect-tls/core/TlsMetrics"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import * as Transport from "@effect-tls/core/Transport"
import { Context, Effect, Exit, Fiber, type Layer, Metric, Option, Tracer } from "effect"
import { afterAll } from "vitest"
import { acceptOne, collect, failureOf, optionsFor } from "../conformance/support.js"
import { generatePki } from "../src/pki.js"

/** A span as the in-memory tracer keeps it. */
export class RecordedSpan implements Tracer.Span {
  readonly _tag = "Span"
  readonly spanId: string
  readonly traceId: string
  readonly sampled = true
  status: Tracer.SpanStatus
  readonly attributes = new Map<string, unknown>()
  readonly events: Array<string> = []
  links: Array<Tracer.SpanLink>
  constructor(
    readonly name: string,
    readonly parent: Option.Option<Tracer.AnySpan>,
    readonly context: Context.Context<never>,
    links: ReadonlyArray<Tracer.SpanLink>,
    startTime: bigint,
    readonly kind: Tracer.SpanKind,
    id: number
  ) {
    this.spanId = `span${id}`
    this.traceId = Option.match(parent, { onNone: () => `trace${id}`, onSome: (p) => p.traceId })
    this.status = { _tag: "Started", startTime }
    this.links = [...links]
  }
  end(endTime: bigint, exit: Exit.Exit<unknown, unknown>): void {
    this.status = { _tag: "Ended", startTime: this.status.startTime, endTime, exit }
  }
  attribute(key: string, value: unknown): void {
    this.attributes.set(key, value)
  }
  event(name: string): void {
    this.events.push(name)
  }
  addLinks(links: ReadonlyArray<Tracer.SpanLink>): void {
    this.links.push(...links)
  }
}

/** An in-memory tracer: every span it was asked for, in order. */
export const recordingTracer = () => {
  const spans: Array<RecordedSpan> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const span = new RecordedSpan(name, parent, context, links, startTime, kind, spans.length + 1)
      spans.push(span)
      return span
    },
    context: (f) => f()
  })
  return { tracer, spans }
}

const parentOf = (span: RecordedSpan) => Option.getOrUndefined(span.parent)
const ended = (span: RecordedSpan) => span.status._tag === "Ended" ? span.status.exit._tag : "Started"
const attrs = (span: RecordedSpan) => Object.fromEntries(span.attributes)

/** One series of `tls.handshakes` (tags in the order the library adds them). */
const handshakeCount = (role: string, outcome: string, errorType?: string) => {
  const tagged = TlsMetrics.handshakes.pipe(Metric.tagged("effect_tls.role", role), Metric.tagged("effect_tls.outcome", outcome))
  return Metric.value(errorType === undefined ? tagged : Metric.tagged(tagged, "error.type", errorType)).pipe(
    Effect.map((s) => s.count)
  )
}
const durationCount = (role: string, outcome: string) =>
  Metric.value(
    TlsMetrics.handshakeDuration.pipe(Metric.tagged("effect_tls.role", role), Metric.tagged("effect_tls.outcome", outcome))
  ).pipe(Effect.map((s) => s.count))
const countOf = (metric: Metric.Metric.Counter<number>) => Effect.map(Metric.value(metric), (s) => s.count)

/** A full garbage collection: Bun's, or V8's (exposed for the call). */
const collectGarbage = async (): Promise<void> => {
  const bun = (globalThis as { Bun?: { gc(force: boolean): void } }).Bun
  if (bun !== undefined) return bun.gc(true)
  const v8 = await import("node:v8")
  const vm = await import("node:vm")
  v8.setFlagsFromString("--expose-gc")
  ;(vm.runInNewContext("gc") as () => void)()
}

export const telemetrySuite = (
  name: string,
  tlsLayer: Layer.Layer<Tls.Tls>,
  common: Partial<TlsOptions.CommonOptions> = {},
  /**
   * The collector scans the machine stack conservatively (JSC, on Bun): a
   * span may survive a full collection with no path to it but the test's
   * own weak reference (a heap snapshot shows none), most often one made
   * last. Then a few such strays are allowed per span name; a connection
   * that keeps its spans keeps every one of them, and still fails.
   */
  conservativeGc = false
) => {
  const pki = generatePki()
  afterAll(() => pki.cleanup())
  const { clientOptions, serverOptions } = optionsFor(pki, common)

  describe(`telemetry: ${name}`, () => {
    layer(tlsLayer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.scoped("connect and accept are traced: tls.connect and tls.accept, each with its tls.handshake and what it negotiated", () =>
        Effect.gen(function*() {
          const { spans, tracer } = recordingTracer()
          const { client, port, server } = yield* Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ alpnProtocols: ["h2", "http/1.1"] }))
            const client = yield* Tls.connect(clientOptions(port, { alpnProtocols: ["h2"] }))
            const server = yield* result.pipe(Effect.flatten)
            return { client, port, server }
          }).pipe(Effect.withTracer(tracer))

          const byName = (n: string) => spans.filter((s) => s.name === n)
          expect(spans.map((s) => s.name).sort()).toEqual(["tls.accept", "tls.connect", "tls.handshake", "tls.handshake"])
          const [connect] = byName("tls.connect")
          const [accept] = byName("tls.accept")
          const clientHandshake = byName("tls.handshake").find((s) => s.attributes.get("effect_tls.role") === "client")!
          const serverHandshake = byName("tls.handshake").find((s) => s.attributes.get("effect_tls.role") === "server")!
          for (const s of spans) expect(ended(s)).toBe("Success")
          expect(parentOf(clientHandshake)).toBe(connect)
          expect(parentOf(serverHandshake)).toBe(accept)
          expect(connect!.kind).toBe("client")
          expect(accept!.kind).toBe("server")

          const protocolVersion = client.info.protocol.replace(/^TLSv/, "")
          expect(protocolVersion).toBe("1.3")
          expect(attrs(connect!)).toMatchObject({
            "effect_tls.role": "client",
            "server.address": "localhost",
            "server.port": port,
            "network.peer.address": "127.0.0.1",
            "network.peer.port": port
          })
          expect(attrs(clientHandshake)).toEqual({
            "effect_tls.role": "client",
            "network.peer.address": "127.0.0.1",
            "network.peer.port": port,
            "tls.established": true,
            "tls.protocol.name": "tls",
            "tls.protocol.version": protocolVersion,
            "tls.cipher": client.info.cipher,
            "tls.next_protocol": "h2",
            "server.address": "localhost",
            "tls.resumed": false,
            "effect_tls.authorized": true
          })
          expect(attrs(accept!)).toMatchObject({
            "effect_tls.role": "server",
            "server.port": port,
            "server.address": "localhost",
            "network.peer.address": "127.0.0.1"
          })
          expect(attrs(serverHandshake)).toMatchObject({
            "effect_tls.role": "server",
            "network.peer.address": "127.0.0.1",
            "tls.established": true,
            "tls.protocol.name": "tls",
            "tls.protocol.version": protocolVersion,
            "tls.cipher": server.info.cipher,
            "tls.next_protocol": "h2",
            "server.address": "localhost",
            "tls.resumed": false
          })
          expect(typeof serverHandshake.attributes.get("network.peer.port")).toBe("number")
        }))

      it.scoped("a failed handshake is traced with error.type and the alert on both sides, and counted by error tag", () =>
        Effect.gen(function*() {
          const clientBefore = yield* handshakeCount("client", "failure", "TlsAlertError")
          const serverBefore = yield* handshakeCount("server", "failure", "TlsAlertError")
          const { spans, tracer } = recordingTracer()
          const { clientExit, serverExit } = yield* Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions({ requestCert: true, ca: pki.root.cert }))
            // TLS 1.2: the server's refusal ends the client's handshake too.
            const clientExit = yield* Tls.connect(clientOptions(port, { maxVersion: "TLSv1.2" })).pipe(Effect.exit)
            return { clientExit, serverExit: yield* result }
          }).pipe(Effect.withTracer(tracer))
          expect(failureOf(clientExit)).toMatchObject({ _tag: "TlsAlertError", direction: "received" })
          expect(failureOf(serverExit)).toMatchObject({ _tag: "TlsAlertError", direction: "sent" })
          const clientAlert = (failureOf(clientExit) as { alert: string }).alert
          const serverAlert = (failureOf(serverExit) as { alert: string }).alert

          const find = (n: string, role: string) =>
            spans.find((s) => s.name === n && s.attributes.get("effect_tls.role") === role)!
          for (const s of spans) expect(ended(s)).toBe("Failure")
          expect(attrs(find("tls.handshake", "client"))).toMatchObject({
            "tls.established": false,
            "error.type": "TlsAlertError",
            "effect_tls.alert": clientAlert,
            "effect_tls.alert.direction": "received"
          })
          expect(attrs(find("tls.connect", "client"))).toMatchObject({ "error.type": "TlsAlertError" })
          expect(attrs(find("tls.handshake", "server"))).toMatchObject({
            "tls.established": false,
            "error.type": "TlsAlertError",
            "effect_tls.alert": serverAlert,
            "effect_tls.alert.direction": "sent"
          })
          expect(attrs(find("tls.accept", "server"))).toMatchObject({ "error.type": "TlsAlertError", "effect_tls.alert": serverAlert })
          for (const s of spans) expect(s.attributes.has("tls.cipher")).toBe(false)

          expect(yield* handshakeCount("client", "failure", "TlsAlertError")).toBe(clientBefore + 1)
          expect(yield* handshakeCount("server", "failure", "TlsAlertError")).toBe(serverBefore + 1)
        }))

      it.scoped("a certificate the client cannot verify: the handshake span has the verify code", () =>
        Effect.gen(function*() {
          const before = yield* handshakeCount("client", "failure", "TlsCertificateError")
          const { spans, tracer } = recordingTracer()
          const exit = yield* Effect.gen(function*() {
            const { port } = yield* acceptOne(serverOptions({ cert: pki.selfSigned.cert, key: pki.selfSigned.key }))
            return yield* Tls.connect(clientOptions(port)).pipe(Effect.exit)
          }).pipe(Effect.withTracer(tracer))
          const failure = failureOf(exit) as { _tag: string; code: string }
          expect(failure).toMatchObject({ _tag: "TlsCertificateError", code: "DEPTH_ZERO_SELF_SIGNED_CERT" })
          const handshake = spans.find((s) => s.name === "tls.handshake" && s.attributes.get("effect_tls.role") === "client")!
          expect(attrs(handshake)).toMatchObject({
            "error.type": "TlsCertificateError",
            "effect_tls.error.code": "DEPTH_ZERO_SELF_SIGNED_CERT"
          })
          expect(yield* handshakeCount("client", "failure", "TlsCertificateError")).toBe(before + 1)
        }))

      it.scoped("serve: every connection is a tls.accept span with its tls.handshake, ended before the handler runs", () =>
        Effect.gen(function*() {
          const { spans, tracer } = recordingTracer()
          const accepts = () => spans.filter((s) => s.name === "tls.accept")
          let endedBeforeHandler = 0
          yield* Effect.gen(function*() {
            const server = yield* Tls.listen(serverOptions())
            yield* Effect.forkScoped(server.serve((c) =>
              Effect.suspend(() => {
                if (accepts().length > 0 && accepts().every((s) => ended(s) === "Success")) endedBeforeHandler++
                return c.write("hi")
              })
            ))
            for (let i = 0; i < 2; i++) {
              yield* Effect.scoped(Effect.flatMap(Tls.connect(clientOptions(server.address.port)), (c) => collect(c, 2)))
            }
          }).pipe(Effect.withTracer(tracer))
          expect(accepts()).toHaveLength(2)
          expect(endedBeforeHandler).toBe(2)
          for (const accept of accepts()) {
            const handshake = spans.find((s) => s.name === "tls.handshake" && parentOf(s) === accept)
            expect(handshake?.attributes.get("effect_tls.role")).toBe("server")
            expect(handshake?.attributes.get("tls.established")).toBe(true)
          }
        }))

      it.scoped("an upgrade is one tls.handshake span per side, in the caller's span", () =>
        Effect.gen(function*() {
          const { spans, tracer } = recordingTracer()
          yield* Effect.gen(function*() {
            const [a, b] = yield* Transport.makeMemoryPair()
            const serverFiber = yield* Effect.fork(
              Tls.upgrade(b, { role: "server", cert: pki.server.chain, key: pki.server.key, ...common })
            )
            yield* Tls.upgrade(a, { role: "client", servername: "localhost", ca: pki.root.cert, ...common })
            yield* Fiber.join(serverFiber)
          }).pipe(Effect.withSpan("caller"), Effect.withTracer(tracer))
          const caller = spans.find((s) => s.name === "caller")!
          const handshakes = spans.filter((s) => s.name === "tls.handshake")
          expect(handshakes.map((s) => s.attributes.get("effect_tls.role")).sort()).toEqual(["client", "server"])
          for (const s of handshakes) {
            expect(parentOf(s)).toBe(caller)
            expect(s.attributes.get("tls.established")).toBe(true)
            expect(s.attributes.get("server.address")).toBe("localhost")
          }
          expect(spans.map((s) => s.name).filter((n) => n !== "caller" && n !== "tls.handshake")).toEqual([])
        }))

      it.scoped("with the tracer disabled, no span is made (a counting tracer is never called)", () =>
        Effect.gen(function*() {
          let calls = 0
          const counting = Tracer.make({
            span: (name, parent, context, links, startTime, kind) => {
              calls++
              return new RecordedSpan(name, parent, context, links, startTime, kind, calls)
            },
            context: (f) => f()
          })
          const handshakes = yield* handshakeCount("client", "success")
          const pair = Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port))
            yield* result.pipe(Effect.flatten)
            return client
          }).pipe(Effect.withTracer(counting))
          yield* pair.pipe(Effect.withTracerEnabled(false))
          expect(calls).toBe(0)
          // Metrics still count.
          expect(yield* handshakeCount("client", "success")).toBe(handshakes + 1)
          // The same program with the tracer enabled calls it.
          yield* pair
          expect(calls).toBe(4)
        }))

      it.scoped("metrics: handshakes and their duration by role, bytes both ways, open connections", () =>
        Effect.gen(function*() {
          const before = {
            client: yield* handshakeCount("client", "success"),
            server: yield* handshakeCount("server", "success"),
            clientDuration: yield* durationCount("client", "success"),
            serverDuration: yield* durationCount("server", "success"),
            received: yield* countOf(TlsMetrics.bytesReceived),
            sent: yield* countOf(TlsMetrics.bytesSent),
            open: yield* countOf(TlsMetrics.openConnections)
          }
          yield* Effect.scoped(Effect.gen(function*() {
            const { port, result } = yield* acceptOne(serverOptions())
            const client = yield* Tls.connect(clientOptions(port))
            const server = yield* result.pipe(Effect.flatten)
            expect(yield* countOf(TlsMetrics.openConnections)).toBe(before.open + 2)
            // A small write the engine takes at once; then writers that
            // find no room and wait for it, or for the write lock.
            yield* client.write(new Uint8Array(1000).fill(1))
            const big = new Uint8Array(256 * 1024).fill(3)
            yield* Effect.forkScoped(Effect.all([client.write(big), client.write(big), client.write(big)], { concurrency: 3 }))
            yield* collect(server, 1000 + 3 * big.length)
            yield* server.write(new Uint8Array(300).fill(2))
            yield* server.write("0123456789")
            yield* collect(client, 310)
          }))
          expect(yield* handshakeCount("client", "success")).toBe(before.client + 1)
          expect(yield* handshakeCount("server", "success")).toBe(before.server + 1)
          expect(yield* durationCount("client", "success")).toBe(before.clientDuration + 1)
          expect(yield* durationCount("server", "success")).toBe(before.serverDuration + 1)
          // Both ends are in this process: what one sent, the other received.
          const moved = 1000 + 3 * 256 * 1024 + 310
          expect(yield* countOf(TlsMetrics.bytesSent)).toBe(before.sent + moved)
          expect(yield* countOf(TlsMetrics.bytesReceived)).toBe(before.received + moved)
          expect(yield* countOf(TlsMetrics.openConnections)).toBe(before.open)
          // And the registry holds them under their names.
          const names = new Set((yield* Metric.snapshot).map((pair) => pair.metricKey.name))
          for (const n of ["tls.handshakes", "tls.handshake.duration", "tls.io", "tls.open_connections"]) {
            expect(names.has(n)).toBe(true)
          }
        }))

      it.scoped("open connections do not keep their finished spans alive (served, accepted and connected, with their handshakes)", () =>
        Effect.gen(function*() {
          // Weak references only: what keeps a span alive after this point is the library.
          const spans: Array<WeakRef<object>> = []
          const tracer = Tracer.make({
            span: (name, parent, context, links, startTime, kind) => {
              const span = new RecordedSpan(name, parent, context, links, startTime, kind, spans.length + 1)
              spans.push(new WeakRef(span))
              return span
            },
            context: (f) => f()
          })
          // Several of each: a leak keeps the spans of every connection.
          const pairs = 5
          const accepted = yield* Effect.forEach(Array.from({ length: pairs }), () =>
            Effect.gen(function*() {
              const { port, result } = yield* acceptOne(serverOptions())
              const client = yield* Tls.connect(clientOptions(port))
              const server = yield* result.pipe(Effect.flatten)
              return { client, server }
            }).pipe(Effect.withTracer(tracer)))
          const listening = yield* Tls.listen(serverOptions())
          const served = yield* Effect.forkScoped(listening.serve((c) => Effect.zipRight(c.write("served"), Effect.never)))
          const toServed = yield* Effect.forEach(Array.from({ length: pairs }), () =>
            Tls.connect(clientOptions(listening.address.port)).pipe(Effect.withTracer(tracer)))
          for (const c of toServed) expect(Buffer.from(yield* collect(c, 6)).toString()).toBe("served")
          expect(spans.length).toBeGreaterThanOrEqual(6 * pairs)
          // Weak references are cleared only after the job that made them.
          for (let i = 0; i < 3; i++) {
            yield* Effect.sleep("20 millis")
            yield* Effect.promise(() => collectGarbage())
          }
          const kept = new Map<string, number>()
          for (const s of spans) {
            const name = (s.deref() as RecordedSpan | undefined)?.name
            if (name !== undefined) kept.set(name, (kept.get(name) ?? 0) + 1)
          }
          const strays = conservativeGc ? 2 : 0
          for (const [name, count] of kept) expect(count, `${name} spans kept alive`).toBeLessThanOrEqual(strays)
          // The connections are still open and working.
          for (const { client, server } of accepted) {
            yield* client.write("ping")
            expect(Buffer.from(yield* collect(server, 4)).toString()).toBe("ping")
          }
          yield* Fiber.interrupt(served)
        }))

      it.scoped("an aborted connection is no longer counted as open", () =>
        Effect.gen(function*() {
          const open = yield* countOf(TlsMetrics.openConnections)
          const { port, result } = yield* acceptOne(serverOptions())
          const client = yield* Tls.connect(clientOptions(port))
          yield* result.pipe(Effect.flatten)
          expect(yield* countOf(TlsMetrics.openConnections)).toBe(open + 2)
          yield* client.abort
          expect(yield* countOf(TlsMetrics.openConnections)).toBe(open + 1)
        }))
    })
  })
}
