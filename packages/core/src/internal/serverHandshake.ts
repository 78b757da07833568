/**
 * The server side of a handshake, up to the engine.
 *
 * Theory of operation: a server does not build its engine when a client
 * connects. It first reads the client's first flight (`ClientHello.read`)
 * and decides, with Effects that may be asynchronous:
 *
 *   1. the certificate context: `SniResolver` (when provided) maps the SNI
 *      name to a context, or `None` for the server's own options; each
 *      context's engine factory is built once and cached by identity;
 *   2. the application protocol: `AlpnSelector` (when provided), else the
 *      context's `alpnProtocols` in preference order.
 *
 * Only then is the engine made (with that factory, and the one chosen ALPN
 * protocol or none) and fed the bytes already read, unchanged; the driver
 * runs the rest of the handshake. This is the same on every runtime: no
 * TLS library callback is involved.
 *
 * A failure before the engine exists is answered with a plaintext alert
 * record when it is an alert we send (`unrecognized_name`,
 * `no_application_protocol`, `internal_error`, `decode_error`, ...), and
 * the transport is released at once. A resolver or selector that fails or
 * dies costs only that handshake (`internal_error`) and is logged with the
 * server name. Everything, reading included, runs within
 * `handshakeTimeout`.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as SubscriptionRef from "effect/SubscriptionRef"
import type * as Scope from "effect/Scope"
import { AlpnSelector } from "../AlpnSelector.js"
import * as ClientHello from "../ClientHello.js"
import { SniResolver } from "../SniResolver.js"
import { type TicketKey, TicketKeys, type TicketKeySet } from "../TicketKeys.js"
import type { NativePath, TlsRuntime } from "../TlsRuntime.js"
import * as TlsConnection from "../TlsConnection.js"
import type { TlsEngineFactory } from "../TlsEngine.js"
import { TlsAlertError, TlsConfigError, type TlsError, TlsTimeoutError } from "../TlsError.js"
import type { ResolvedServer, ServerContext } from "../TlsOptions.js"
import type { Transport } from "../Transport.js"
import { noOverlap } from "./alpnSelector.js"
import * as serverName from "./serverName.js"
import * as options from "./tlsOptions.js"
import * as deadline from "./deadline.js"
import * as resource from "./resource.js"
import * as ticketKeys from "./ticketKeys.js"

/** A server's options with the engine factory built from them. */
interface Prepared {
  readonly options: ResolvedServer
  readonly factory: TlsEngineFactory
}

/** What was decided from the ClientHello. */
interface Decision {
  readonly prepared: Prepared
  /** The ALPN list the engine gets: the chosen protocol, or none. */
  readonly alpnProtocols: ReadonlyArray<string>
  readonly bytes: Uint8Array
}

/** How long a pre-engine alert may take to leave. */
const ALERT_GRACE = Duration.seconds(1)

/** Native contexts a runtime keeps, by content. */
const CONTENT_CACHE_SIZE = 256

/** What makes two decoded contexts the same native context (kept in memory only, never logged). */
const contentKey = (o: ResolvedServer) =>
  JSON.stringify([
    o.certChain,
    o.key === undefined ? null : Redacted.value(o.key),
    o.ca ?? null,
    o.crl ?? null,
    o.requestCert,
    o.ciphers ?? null,
    o.minVersion,
    o.maxVersion,
    o.alpnProtocols,
    o.ticketKey === undefined ? null : Array.from(Redacted.value(o.ticketKey))
  ])

const isSentAlert = (u: unknown): u is TlsAlertError => u instanceof TlsAlertError && u.direction === "sent"

/** Send a plaintext fatal alert and end the write side; best effort, bounded. */
const sendAlert = (transport: Transport, alert: string) =>
  transport.write(ClientHello.alertRecord(alert)).pipe(
    Effect.zipRight(transport.end),
    Effect.timeout(ALERT_GRACE),
    Effect.ignore
  )

/**
 * Engine factories for server options, built by the runtime.
 * @internal
 */
export type ServerEngines = (options: ResolvedServer) => Effect.Effect<TlsEngineFactory, TlsConfigError>

/**
 * `build`, remembered by the content `key` gives (kept in memory only,
 * never logged), at most CONTENT_CACHE_SIZE entries, oldest out first.
 * @internal
 */
export const cachedByContent = <O, A, E>(
  build: (options: O) => Effect.Effect<A, E>,
  key: (options: O) => string
): (options: O) => Effect.Effect<A, E> => {
  const built = new Map<string, A>()
  return (options) =>
    Effect.suspend(() => {
      const k = key(options)
      const hit = built.get(k)
      if (hit !== undefined) return Effect.succeed(hit)
      return Effect.tap(build(options), (value) =>
        Effect.sync(() => {
          if (built.size >= CONTENT_CACHE_SIZE) built.delete(built.keys().next().value!)
          built.set(k, value)
        }))
    })
}

/**
 * The runtime's `serverEngines`, remembered by content: building a native
 * context is costly (keys and certificates are parsed), and servers build
 * the same ones again and again (every `Tls.upgrade` in the server role,
 * resolvers that return a fresh context object per handshake). Bounded.
 * @internal
 */
export const cachedEngines = (runtime: TlsRuntime): ServerEngines => cachedByContent(runtime.serverEngines, contentKey)

/**
 * Build the handshake of a server with `serverOptions`. Reads `SniResolver`
 * and `AlpnSelector` from the context, if provided, and builds every
 * context the resolver knows in advance (a bad one fails here).
 * @internal
 */
export const make = (
  engines: ServerEngines,
  serverOptions: ResolvedServer,
  adopt?: NativePath["adopt"]
): Effect.Effect<
  (transport: Transport) => Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, Scope.Scope>,
  TlsConfigError
> => Effect.map(makeReloadable(engines, serverOptions, adopt), (server) => server.handshake)

/**
 * A server's handshake whose own context (the one used when no resolver
 * picks another) can be replaced while it runs: `reload` decodes the
 * context and builds its engine factory first, so a bad one fails with
 * `TlsConfigError` and changes nothing; handshakes that decide after it
 * use the new one, engines already made keep theirs. Given `source`, its
 * value at start applies first (a bad one fails here), and every handshake
 * looks at it before deciding: a changed value is applied then (a bad one
 * is logged and the previous context keeps serving).
 * @internal
 */
export const makeReloadable = (
  engines: ServerEngines,
  serverOptions: ResolvedServer,
  adopt?: NativePath["adopt"],
  source?: SubscriptionRef.SubscriptionRef<ServerContext>
): Effect.Effect<
  {
    readonly handshake: (
      transport: Transport
    ) => Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, Scope.Scope>
    readonly reload: (context: ServerContext) => Effect.Effect<void, TlsConfigError>
  },
  TlsConfigError
> =>
  Effect.gen(function*() {
    let own: Prepared = { options: serverOptions, factory: yield* engines(serverOptions) }
    const resolver = yield* Effect.serviceOption(SniResolver)
    const selector = yield* Effect.serviceOption(AlpnSelector)
    // Contexts this server has already decoded, by identity.
    const known = new WeakMap<ServerContext, Prepared>()

    const prepare = (context: ServerContext, label: string): Effect.Effect<Prepared, TlsConfigError> =>
      Effect.suspend(() => {
        const hit = known.get(context)
        if (hit !== undefined) return Effect.succeed(hit)
        return options.decodeContext(serverOptions, context, label).pipe(
          Effect.flatMap((resolved) =>
            engines(resolved).pipe(
              Effect.mapError((e) =>
                e.option.startsWith(label) ? e : new TlsConfigError({ option: `${label}.${e.option}`, reason: e.reason, cause: e.cause })
              ),
              Effect.map((factory): Prepared => ({ options: resolved, factory }))
            )
          ),
          Effect.tap((prepared) => Effect.sync(() => known.set(context, prepared)))
        )
      })

    // Reloads apply one at a time, in the order they were asked for.
    const reloading = yield* Effect.makeSemaphore(1)
    const reload = (context: ServerContext): Effect.Effect<void, TlsConfigError> =>
      reloading.withPermits(1)(Effect.flatMap(prepare(context, "reload"), (prepared) =>
        Effect.sync(() => {
          own = prepared
        })))
    /** The value of `source` last looked at. */
    let seen: ServerContext | undefined
    if (source !== undefined) {
      seen = yield* SubscriptionRef.get(source)
      yield* reload(seen)
    }
    const follow = source === undefined ? undefined : Effect.flatMap(SubscriptionRef.get(source), (context) => {
      if (context === seen) return Effect.void
      seen = context
      return Effect.catchAll(reload(context), (e) =>
        Effect.logWarning("TLS server: the reload option's new context is not applied; the previous one keeps serving", e))
    })

    // Ticket keys: the option's, else the context's; without, the runtime's own.
    const tickets = serverOptions.ticketKeys ?? Option.getOrUndefined(yield* Effect.serviceOption(TicketKeys))
    /**
     * A context, with the ticket key `key` (node:tls takes one key per
     * context): built once per context and key, the keys no longer kept
     * dropped as new ones come.
     */
    const withKey = new WeakMap<Prepared, Map<string, Prepared>>()
    const keyed = (prepared: Prepared, key: TicketKey, kept: TicketKeySet) =>
      Effect.suspend(() => {
        let byName = withKey.get(prepared)
        const hit = byName?.get(key.name)
        if (hit !== undefined) return Effect.succeed(hit)
        if (byName === undefined) withKey.set(prepared, byName = new Map())
        const options = { ...prepared.options, ticketKey: key.material }
        return Effect.map(engines(options), (factory): Prepared => {
          if (byName.size > kept.accepted.length) {
            for (const name of byName.keys()) {
              if (name !== kept.current.name && !kept.accepted.some((k) => k.name === name)) byName.delete(name)
            }
          }
          const made = { options, factory }
          byName.set(key.name, made)
          return made
        })
      })
    if (tickets !== undefined) {
      // The current key's context is built now: a runtime that cannot set ticket keys fails here.
      const kept = yield* tickets.keys
      yield* keyed(own, kept.current, kept)
    }

    /** Whether deciding runs user code (a resolver, a selector, ticket keys). */
    const resolving = Option.isSome(resolver) || Option.isSome(selector) || tickets !== undefined

    if (Option.isSome(resolver)) {
      yield* Effect.forEach(resolver.value.contexts, ([name, context]) => prepare(context, name), { discard: true })
    }

    /**
     * Run a user-supplied service. An alert it fails with on purpose is
     * sent as is; any other failure or defect is logged and becomes
     * `internal_error`.
     */
    const consult = <A>(
      what: string,
      effect: Effect.Effect<A, TlsError>,
      servername: Option.Option<string>,
      peer: string | undefined
    ): Effect.Effect<A, TlsError> =>
      Effect.catchAllCause(effect, (cause) => {
        if (Cause.isInterruptedOnly(cause)) return Effect.failCause(cause)
        const failure = Cause.failureOption(cause)
        if (Option.isSome(failure) && isSentAlert(failure.value)) return Effect.fail(failure.value)
        return Effect.logWarning(`${what} failed; the handshake is aborted with internal_error`, cause).pipe(
          Effect.annotateLogs({ servername: Option.getOrElse(servername, () => "(none)"), peer: peer ?? "unknown" }),
          Effect.zipRight(Effect.fail(new TlsAlertError({ alert: "internal_error", direction: "sent", cause: Cause.squash(cause) })))
        )
      })

    const decide = (transport: Transport): Effect.Effect<Decision, TlsError> =>
      Effect.gen(function*() {
        const { bytes, hello } = yield* ClientHello.read(transport)
        // RFC 6066: a server name is a DNS host name. Anything else (a NUL,
        // a slash, an empty label) is refused before any resolver sees it,
        // so a resolver can use the name as a key or a file name.
        const normalized = Option.map(hello.serverName, serverName.normalize)
        const servername = Option.flatten(normalized)
        const peer = transport.remoteAddress
        if (Option.isSome(normalized) && Option.isNone(normalized.value)) {
          return yield* new TlsAlertError({
            alert: "unrecognized_name",
            direction: "sent",
            cause: "the client's server_name is not a host name"
          })
        }

        if (follow !== undefined) yield* follow
        let prepared = own
        if (Option.isSome(resolver)) {
          const context = yield* consult(
            "SNI resolver",
            Effect.suspend(() => resolver.value.resolve(servername, hello)),
            servername,
            peer
          )
          if (Option.isSome(context)) {
            const label = `sni(${Option.getOrElse(servername, () => "no name")})`
            prepared = yield* consult("SNI resolver's context", prepare(context.value, label), servername, peer)
          }
        }

        if (tickets !== undefined) {
          const kept = yield* consult("ticket keys", tickets.keys, servername, peer)
          const name = ticketKeys.offeredName(hello, prepared.options.maxVersion === "TLSv1.3")
          prepared = yield* consult("ticket keys", keyed(prepared, ticketKeys.pick(kept, name), kept), servername, peer)
        }

        const offered = hello.alpnProtocols
        let alpnProtocols: ReadonlyArray<string> = []
        if (offered.length > 0) {
          if (Option.isSome(selector)) {
            const chosen = yield* consult(
              "ALPN selector",
              Effect.suspend(() => selector.value.select(offered, servername)).pipe(
                Effect.filterOrDieMessage(
                  (p) => Option.isNone(p) || offered.includes(p.value),
                  "the ALPN selector chose a protocol the client did not offer"
                )
              ),
              servername,
              peer
            )
            alpnProtocols = Option.toArray(chosen)
          } else if (prepared.options.alpnProtocols.length > 0) {
            const chosen = prepared.options.alpnProtocols.find((p) => offered.includes(p))
            if (chosen === undefined) return yield* noOverlap(offered)
            alpnProtocols = [chosen]
          }
        }
        return { prepared, alpnProtocols, bytes }
      })

    const handshake = (transport: Transport) =>
      Effect.gen(function*() {
        const budget = Duration.toMillis(serverOptions.handshakeTimeout)
        const started = yield* Clock.currentTimeMillis
        const timedOut = () => new TlsTimeoutError({ phase: "handshake", millis: budget })
        // Without resolvers, deciding only reads the transport, and through
        // `immediate` a read ends when the transport is closed (its
        // contract): the deadline closes it and needs no fiber of its own.
        // A resolver is user code that may never answer, and a transport
        // without `immediate` may not end a read on close: those are raced.
        const runtime = yield* Effect.runtime<never>()
        const raced = resolving || transport.immediate === undefined
        const decision = yield* (raced
          ? deadline.timeoutFail(decide(transport), serverOptions.handshakeTimeout, timedOut)
          : deadline.breakingAfter(
            decide(transport),
            serverOptions.handshakeTimeout,
            () => Runtime.runFork(runtime)(transport.close),
            timedOut
          )).pipe(
          Effect.tapError((e) => isSentAlert(e) ? sendAlert(transport, e.alert) : Effect.void),
          Effect.onError(() => transport.close)
        )
        const elapsed = (yield* Clock.currentTimeMillis) - started
        const { alpnProtocols, bytes, prepared } = decision
        const remaining = {
          ...prepared.options,
          // The rest of the handshake gets what is left of its budget.
          handshakeTimeout: Duration.millis(Math.max(1, budget - elapsed))
        }
        // The native path (allowTruncation): the runtime's TLS takes the
        // socket over, and is handed the ClientHello first.
        const native = adopt === undefined
          ? Option.none()
          : adopt(transport, prepared.factory, { remoteAddress: transport.remoteAddress, alpnProtocols, received: bytes })
        let connecting: Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, Scope.Scope>
        if (Option.isSome(native)) {
          connecting = Effect.flatMap(native.value, (c) => TlsConnection.make(c.engine, c.transport, remaining))
        } else {
          const engine = yield* resource.acquireRelease(
            prepared.factory.make({ remoteAddress: transport.remoteAddress, alpnProtocols }),
            (engine) => engine.destroy
          )
          engine.feed(bytes)
          connecting = TlsConnection.make(engine, transport, remaining)
        }
        return yield* connecting.pipe(
          Effect.mapError((e) =>
            e._tag === "TlsTimeoutError" ? new TlsTimeoutError({ phase: "handshake", millis: budget }) : e
          )
        )
      })
    return { handshake, reload }
  })
