/**
 * Connected pairs (client and server `TlsConnection`s) with a
 * man-in-the-middle between them, on every path a layer has: `connect` to
 * a `listen`ing server, and `upgrade` in both roles over plain TCP.
 */
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import type * as TlsOptions from "@effect-tls/core/TlsOptions"
import type { Listener } from "@effect-tls/core/TlsRuntime"
import type { TlsTransportError } from "@effect-tls/core/TlsError"
import type { Transport } from "@effect-tls/core/Transport"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import { Cause, Effect, Exit, Fiber, Option, type Scope } from "effect"
import type { Pki } from "../src/pki.js"
import { makeMitm, type Mitm } from "./mitm.js"

/** Which entry points make the two connections. */
export type Path = "connect/listen" | "upgrade"

export const paths: ReadonlyArray<Path> = ["connect/listen", "upgrade"]

/** Plain TCP of the runtime under test, for `upgrade`. */
export interface PlainTcp {
  readonly connect: (host: string, port: number) => Effect.Effect<Transport, TlsTransportError, Scope.Scope>
  readonly listen: (host: string, port: number) => Effect.Effect<Listener, TlsTransportError, Scope.Scope>
}

export const nodeTcp: PlainTcp = { connect: NodeTransport.connect, listen: NodeTransport.listen }

export interface Pair {
  readonly client: TlsConnection
  readonly server: TlsConnection
  readonly mitm: Mitm
}

export interface PairOptions {
  readonly version: "TLSv1.2" | "TLSv1.3"
  readonly server?: Partial<TlsOptions.ServerOptions>
  readonly client?: Partial<TlsOptions.ClientOptions>
}

/** A client and a server connected through a man-in-the-middle, both handshakes done. */
export const connectedPair = (pki: Pki, path: Path, o: PairOptions, tcp: PlainTcp = nodeTcp) =>
  Effect.gen(function*() {
    const common = { maxVersion: o.version, minVersion: "TLSv1.2" as const }
    const serverOptions = { cert: pki.server.chain, key: pki.server.key, ...common, ...o.server }
    const clientOptions = { servername: "localhost", ca: pki.root.cert, ...common, ...o.client }
    if (path === "connect/listen") {
      const listener = yield* Tls.listen({ host: "127.0.0.1", port: 0, ...serverOptions })
      const mitm = yield* makeMitm(listener.address.port)
      const accepting = yield* Effect.fork(listener.accept)
      const client = yield* Tls.connect({ host: "127.0.0.1", port: mitm.port, ...clientOptions })
      const server = yield* Fiber.join(accepting)
      return { client, server, mitm } satisfies Pair
    }
    const listener = yield* tcp.listen("127.0.0.1", 0)
    const mitm = yield* makeMitm(listener.address.port)
    const accepting = yield* Effect.fork(
      Effect.flatMap(listener.accept, (t) => Tls.upgrade(t, { role: "server", ...serverOptions }))
    )
    const transport = yield* tcp.connect("127.0.0.1", mitm.port)
    const client = yield* Tls.upgrade(transport, { role: "client", ...clientOptions })
    const server = yield* Fiber.join(accepting)
    return { client, server, mitm } satisfies Pair
  })

/** How a read ended: data, a clean end, or the error's tag and fields. */
export const outcome = (exit: Exit.Exit<Option.Option<Uint8Array>, unknown>): string => {
  if (Exit.isSuccess(exit)) return Option.isNone(exit.value) ? "clean end" : `data (${exit.value.value.length} B)`
  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) return `defect or interruption: ${Cause.pretty(exit.cause)}`
  return describeError(failure.value)
}

/** `TlsAlertError bad_record_mac sent`, `TlsUnexpectedEof read`, ... */
export const describeError = (e: unknown): string => {
  const x = e as Record<string, unknown>
  switch (x._tag) {
    case "TlsAlertError":
      return `TlsAlertError ${x.alert} ${x.direction}`
    case "TlsProtocolError":
    case "TlsCertificateError":
      return `${x._tag} ${x.code}`
    case "TlsTransportError":
      return `TlsTransportError ${x.reason}`
    case "TlsUnexpectedEof":
    case "TlsTimeoutError":
      return `${x._tag} ${x.phase}`
    case "TlsClosedError":
      return `TlsClosedError ${x.operation}${x.reason === undefined ? "" : ` ${x.reason}`}`
    default:
      return `untyped: ${String(e)}`
  }
}
