import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { TlsVersion } from "@effect-tls/core/TlsOptions"
import * as Demo from "./demo.js"
import { ExitWith, parseHostPort, readText, splitList, usage } from "./cliSupport.js"
import { exitCodes } from "./exitCodes.js"
import * as Probe from "./probe.js"
import * as StartTls from "./starttls.js"
import * as Style from "./style.js"

const optionalText = (name: string, description: string) =>
  Options.text(name).pipe(Options.withDescription(description), Options.optional)

const versions = ["1.2", "1.3"] as const
const tlsVersion = (v: Option.Option<"1.2" | "1.3">): TlsVersion | undefined =>
  Option.match(v, { onNone: () => undefined, onSome: (v) => `TLSv${v}` as const })

const orUndefined = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

const readOptional = (path: Option.Option<string>, what: string) =>
  Option.match(path, { onNone: () => Effect.void.pipe(Effect.as(undefined)), onSome: (p) => readText(p, what) })

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

/** @internal */
export const subcommands = { probe, demo }
