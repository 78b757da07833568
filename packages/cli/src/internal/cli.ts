import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import type { TlsVersion } from "@effect-tls/core/TlsOptions"
import * as Demo from "./demo.js"
import { ExitWith, parseHostPort, readText, splitList, usage } from "./cliSupport.js"
import { exitCodes } from "./exitCodes.js"
import * as Probe from "./probe.js"
import * as Serve from "./serve.js"
import * as StartTls from "./starttls.js"
import * as Style from "./style.js"

const optionalText = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const versions = ["1.2", "1.3"] as const
const tlsVersion = (v: Option.Option<"1.2" | "1.3">): TlsVersion | undefined =>
  Option.match(v, { onNone: () => undefined, onSome: (v) => `TLSv${v}` as const })

const orUndefined = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

const readOptional = (path: Option.Option<string>, what: string) =>
  Option.match(path, { onNone: () => Effect.succeed(undefined), onSome: (p) => readText(p, what) })

const probe = Command.make("probe", {
  target: Args.text({ name: "host[:port]" }).pipe(
    Args.withDescription("The server: a host name or an IP address, and a port (default 443, or the STARTTLS protocol's)")
  ),
  servername: optionalText("servername", "The name sent as SNI and verified (default: the host)"),
  alpn: optionalText("alpn", "ALPN protocols to offer, comma-separated (h2,http/1.1)"),
  ca: optionalText("ca", "A PEM file of trusted roots (default: the runtime's root store)"),
  cert: optionalText("cert", "A client certificate (PEM file, with its intermediates)"),
  key: optionalText("key", "The client certificate's private key (PEM file)"),
  minVersion: Options.choice("min-version", versions).pipe(
    Options.withDescription("Lowest TLS version to offer (default 1.2)"),
    Options.optional
  ),
  maxVersion: Options.choice("max-version", versions).pipe(
    Options.withDescription("Highest TLS version to offer (default 1.3)"),
    Options.optional
  ),
  starttls: Options.choice("starttls", StartTls.protocols).pipe(
    Options.withDescription("Speak this protocol in plain text first and ask it to start TLS"),
    Options.optional
  ),
  timeout: Options.integer("timeout").pipe(
    Options.withDescription("Seconds allowed for each step: TCP connect, STARTTLS, handshake"),
    Options.withDefault(10)
  ),
  json: Options.boolean("json").pipe(Options.withDescription("Print the report as JSON (schema/probe.v1.json)"))
}).pipe(
  Command.withDescription(
    "Connect to a TLS server and report what it negotiates, its certificate, whether it verifies, and timings"
  ),
  Command.withHandler((o) =>
    Effect.gen(function*() {
      const starttls = orUndefined(o.starttls)
      const { host, port } = yield* parseHostPort(
        o.target,
        starttls === undefined ? 443 : StartTls.defaultPorts[starttls],
        "host[:port]"
      )
      if (o.timeout <= 0) return yield* usage("--timeout must be a positive number of seconds")
      if (Option.isSome(o.cert) !== Option.isSome(o.key)) return yield* usage("--cert and --key go together")
      const report = yield* Probe.probe({
        host,
        port,
        servername: orUndefined(o.servername),
        alpnProtocols: Option.match(o.alpn, { onNone: () => undefined, onSome: splitList }),
        ca: yield* readOptional(o.ca, "--ca"),
        cert: yield* readOptional(o.cert, "--cert"),
        key: yield* readOptional(o.key, "--key"),
        minVersion: tlsVersion(o.minVersion),
        maxVersion: tlsVersion(o.maxVersion),
        starttls,
        timeoutMillis: o.timeout * 1000
      })
      yield* Console.log(o.json ? JSON.stringify(report, null, 2) : Probe.render(report, Style.useColor(process.stdout)))
      if (report.exitCode !== exitCodes.ok) return yield* new ExitWith({ code: report.exitCode })
    })
  )
)

const demo = Command.make("demo").pipe(
  Command.withDescription(
    "Generate a throwaway PKI (openssl CLI), start a TLS server on 127.0.0.1 and connect a client to it"
  ),
  Command.withHandler(() => Demo.run)
)

const seconds = (name: string, fallback: number, description: string) =>
  Options.integer(name).pipe(Options.withDescription(`${description} (seconds, default ${fallback})`), Options.withDefault(fallback))

const serve = Command.make("serve", {
  listen: Options.text("listen").pipe(
    Options.withDescription("The address to listen on, host:port (default 127.0.0.1:8443)"),
    Options.withDefault("127.0.0.1:8443")
  ),
  sni: Options.text("sni").pipe(
    Options.withDescription("A certificate for a server name: name=cert.pem,key.pem (repeatable; *.example.com allowed)"),
    Options.repeated
  ),
  sniDir: optionalText("sni-dir", "A directory of NAME.pem (certificate and intermediates) and NAME.key pairs"),
  cert: optionalText("cert", "The default certificate (PEM file) for clients without a known name"),
  key: optionalText("key", "The default certificate's key (PEM file)"),
  route: Options.text("route").pipe(
    Options.withDescription("Route a server name (or *), optionally with an ALPN protocol: name[/alpn]=host:port (repeatable)"),
    Options.repeated
  ),
  backend: optionalText("backend", "The default backend, host:port, for connections no route matches"),
  alpn: optionalText("alpn", "ALPN protocols to offer, comma-separated (default: those named by routes)"),
  proxyProtocol: Options.boolean("proxy-protocol").pipe(
    Options.withDescription("Send a PROXY protocol v2 header (client address, ALPN, SNI) to the backend first")
  ),
  clientCa: optionalText("client-ca", "Require a client certificate signed by a CA of this PEM file"),
  maxConnections: Options.integer("max-connections").pipe(
    Options.withDescription("Connections open at once (default 4096)"),
    Options.withDefault(4096)
  ),
  maxHandshakes: Options.integer("max-handshakes").pipe(
    Options.withDescription("Handshakes in flight at once (default 256)"),
    Options.withDefault(256)
  ),
  idleTimeout: seconds("idle-timeout", 300, "Close a connection with no traffic for this long"),
  handshakeTimeout: seconds("handshake-timeout", 30, "Bound on a client's handshake"),
  connectTimeout: seconds("connect-timeout", 10, "Bound on connecting to a backend"),
  drainTimeout: seconds("drain-timeout", 30, "On SIGTERM/SIGINT, how long open connections may go on"),
  closeGrace: seconds("close-grace", 5, "How long a close waits for written bytes to leave")
}).pipe(
  Command.withDescription(
    "Terminate TLS in front of TCP backends: certificates per name, routes per name and ALPN, reload on SIGHUP, drain on SIGTERM"
  ),
  Command.withHandler((o) =>
    Effect.gen(function*() {
      const listen = yield* parseHostPort(o.listen, undefined, "--listen")
      const sni = yield* Effect.forEach(o.sni, (text) => Effect.mapError(Serve.parseSni(text), (e) => usage(e.reason)))
      const routes = yield* Effect.forEach(o.route, (text) => Effect.mapError(Serve.parseRoute(text), (e) => usage(e.reason)))
      const backend = yield* Option.match(o.backend, {
        onNone: () => Effect.succeed(undefined),
        onSome: (text) => parseHostPort(text, undefined, "--backend")
      })
      if (Option.isSome(o.cert) !== Option.isSome(o.key)) return yield* usage("--cert and --key go together")
      if (routes.length === 0 && backend === undefined) return yield* usage("give at least one --route or a --backend")
      for (const [name, value] of [
        ["--max-connections", o.maxConnections],
        ["--max-handshakes", o.maxHandshakes],
        ["--idle-timeout", o.idleTimeout],
        ["--handshake-timeout", o.handshakeTimeout],
        ["--connect-timeout", o.connectTimeout],
        ["--close-grace", o.closeGrace]
      ] as const) {
        if (value <= 0) return yield* usage(`${name} must be positive`)
      }
      if (o.drainTimeout < 0) return yield* usage("--drain-timeout must not be negative")
      yield* Effect.scoped(Effect.gen(function*() {
        const terminator = yield* Serve.start({
          listen,
          sni,
          sniDirectory: orUndefined(o.sniDir),
          defaultCertificate: Option.isSome(o.cert) && Option.isSome(o.key)
            ? { certFile: o.cert.value, keyFile: o.key.value }
            : undefined,
          routes,
          defaultBackend: backend,
          alpnProtocols: Option.match(o.alpn, { onNone: () => undefined, onSome: splitList }),
          proxyProtocol: o.proxyProtocol,
          clientCaFile: orUndefined(o.clientCa),
          maxConnections: o.maxConnections,
          maxHandshakes: o.maxHandshakes,
          idleTimeoutMillis: o.idleTimeout * 1000,
          handshakeTimeoutMillis: o.handshakeTimeout * 1000,
          connectTimeoutMillis: o.connectTimeout * 1000,
          drainTimeoutMillis: o.drainTimeout * 1000,
          closeGraceMillis: o.closeGrace * 1000
        }).pipe(Effect.catchTag("ServeConfigError", (e) => usage(e.reason)))
        // SIGHUP: read the certificates again (open connections are not touched).
        const runtime = yield* Effect.runtime<never>()
        const onHangup = () => {
          Runtime.runFork(runtime)(terminator.reload)
        }
        yield* Effect.acquireRelease(
          Effect.sync(() => process.on("SIGHUP", onHangup)),
          () => Effect.sync(() => process.off("SIGHUP", onHangup))
        )
        // Runs until interrupted (SIGTERM, SIGINT): then drains.
        yield* terminator.done.pipe(Effect.onInterrupt(() => terminator.drain))
      }))
    })
  )
)

/** @internal */
export const subcommands = { probe, serve, demo }
