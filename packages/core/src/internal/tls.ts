/** @internal */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import { identity } from "effect/Function"
import * as Option from "effect/Option"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as FiberSet from "effect/FiberSet"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SubscriptionRef from "effect/SubscriptionRef"
import * as Readiness from "../Readiness.js"
import { AlpnSelector } from "../AlpnSelector.js"
import { SessionCache, type SessionCacheService, type SessionKey } from "../SessionCache.js"
import { SniResolver } from "../SniResolver.js"
import { TicketKeys } from "../TicketKeys.js"
import type { Address, TlsServer, TlsService } from "../Tls.js"
import type { TlsRuntime } from "../TlsRuntime.js"
import * as TlsConnection from "../TlsConnection.js"
import type { TlsEngine, TlsEngineFactory } from "../TlsEngine.js"
import { TlsConfigError, type TlsTransportError, TlsTimeoutError } from "../TlsError.js"
import type * as O from "../TlsOptions.js"
import type { Transport } from "../Transport.js"
import * as idle from "./idle.js"
import * as options from "./tlsOptions.js"
import * as resource from "./resource.js"
import * as deadline from "./deadline.js"
import * as serverHandshake from "./serverHandshake.js"
import * as sessionCache from "./sessionCache.js"
import * as telemetry from "./telemetry.js"

/** A client's sessions: where they are kept, under which key, and the one offered now. */
interface ClientSessions {
  readonly cache: SessionCacheService
  readonly key: SessionKey
  readonly offered: Uint8Array | undefined
}

/** Keep the sessions the engine reports, then run the handshake. */
const clientConnection = (
  engine: TlsEngine,
  transport: Transport,
  resolved: O.ResolvedClient,
  sessions: ClientSessions | undefined
) =>
  sessions === undefined
    ? TlsConnection.make(engine, transport, resolved)
    : Effect.zipRight(sessionCache.attach(engine, sessions.cache, sessions.key), TlsConnection.make(engine, transport, resolved))

const handshakeOver = (
  factory: TlsEngineFactory,
  transport: Transport,
  resolved: O.ResolvedClient,
  sessions: ClientSessions | undefined
) =>
  telemetry.handshake(
    "client",
    transport.remoteAddress,
    resource.acquireRelease(
      factory.make({ remoteAddress: transport.remoteAddress, session: sessions?.offered }),
      (engine) => engine.destroy
    ).pipe(
      Effect.flatMap((engine) => clientConnection(engine, transport, resolved, sessions))
    )
  )

/**
 * Run `effect` in a child of the caller's scope that is closed at once if
 * it fails, so a connect that fails or times out releases its socket now,
 * not when the caller's scope ends.
 */
const releasingOnFailure = <A, E>(effect: Effect.Effect<A, E, Scope.Scope>): Effect.Effect<A, E, Scope.Scope> =>
  Effect.flatMap(Effect.scope, (parent) =>
    Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (child) =>
      Scope.extend(effect, child).pipe(
        Effect.onExit((exit) => (exit._tag === "Failure" ? Scope.close(child, exit) : Effect.void))
      )))

/** Own `transport` in the current scope. */
const owned = (transport: Transport): Effect.Effect<Transport, never, Scope.Scope> =>
  resource.acquireRelease(Effect.succeed(transport), (t) => t.close)

type Handshake<C> = (
  accepted: C
) => Effect.Effect<TlsConnection.TlsConnection, TlsConnection.TlsConnectionError, Scope.Scope>

/**
 * The server loop, for either path: `accept` hands out what a listener
 * accepted (a transport, or a native connection), `transportOf` names the
 * transport that owns its socket, `handshake` makes it a connection.
 * `serve` runs at most `maxConnections` connections and `maxHandshakes`
 * handshakes at once: at a limit it stops accepting (the kernel's backlog
 * queues new clients) until one ends; the connections it runs never wait
 * for it. Established connections get the idle timeout.
 */
const makeServer = <C>(
  address: Address,
  accept: Effect.Effect<C, TlsTransportError>,
  transportOf: (accepted: C) => Transport,
  handshakeOnly: Handshake<C>,
  limits: O.ResolvedServerListen,
  reload: TlsServer["reload"]
): TlsServer => {
  const handshake: Handshake<C> = (accepted) => {
    const peer = transportOf(accepted).remoteAddress
    return Effect.flatMap(
      telemetry.accept(address.port, peer, telemetry.handshake("server", peer, handshakeOnly(accepted))),
      (connection) => idle.withIdleTimeout(connection, limits.idleTimeout)
    )
  }
  // What is accepted is owned by a scope before anything interruptible
  // runs, so an interruption at any point releases it.
  const own = (accepted: C) => Effect.as(owned(transportOf(accepted)), accepted)
  return {
    address,
    reload,
    accept: Effect.uninterruptibleMask((restore) =>
      restore(accept).pipe(
        Effect.flatMap(own),
        Effect.flatMap((c) => restore(handshake(c)))
      )
    ),
    serve: (handler) =>
      Effect.gen(function*() {
        const fibers = yield* FiberSet.make()
        // The limits are two counters and one event (a slot freed): taking
        // both slots is one synchronous check, releasing one a decrement.
        let connections = 0
        let handshakes = 0
        const slotFreed = Readiness.make()
        /**
         * One connection, in its own fiber, uninterruptible but for the
         * handshake and the handler (so an interruption at any point closes
         * the connection's scope). Shallow on purpose: while the handler
         * runs, the fiber's stack holds one frame of ours (the match below)
         * and two for the runtime flags, and the connection's scope is set
         * in the fiber's own context instead of being provided around the
         * handler (the fiber is the connection's alone): every frame and
         * closure here is kept for as long as the connection lives.
         */
        const runConnection = (accepted: C): Effect.Effect<void> =>
          Effect.uninterruptible(Effect.flatMap(Scope.make(), (scope) => {
            let handshaking = true
            const handshakeOver = () => {
              if (!handshaking) return
              handshaking = false
              handshakes--
              slotFreed.signal()
            }
            // Built when run, and the handshake's Effects only inside it: the
            // match below keeps `run` for the connection's lifetime, and so
            // would keep everything `run` referred to.
            const run = Effect.suspend(() =>
              Effect.zipRight(
                FiberRef.update(FiberRef.currentContext, (context) => Context.add(context, Scope.Scope, scope)),
                Effect.zipRight(
                  own(accepted),
                  Effect.flatMap(Effect.interruptible(handshake(accepted)), (connection) => {
                    handshakeOver()
                    return Effect.interruptible(handler(connection))
                  })
                ) as Effect.Effect<unknown, unknown>
              )
            )
            const over = (exit: Exit.Exit<unknown, unknown>) => {
              const failed = exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)
              const log = !failed
                ? Effect.void
                : (handshaking
                  ? Effect.logDebug("TLS handshake failed", exit.cause)
                  : Effect.logWarning("TLS connection handler failed", exit.cause)).pipe(
                    Effect.annotateLogs("peer", transportOf(accepted).remoteAddress ?? "unknown")
                  )
              return Effect.zipRight(log, Scope.close(scope, exit)).pipe(
                Effect.ensuring(Effect.sync(() => {
                  handshakeOver()
                  connections--
                  slotFreed.signal()
                }))
              )
            }
            return Effect.matchCauseEffect(run, {
              onFailure: (cause) => over(Exit.failCause(cause)),
              onSuccess: () => over(Exit.void)
            })
          }))
        // Slots are taken before accepting: at a limit, nothing is accepted.
        // (Taken in the step that saw them free; given back if accept fails.)
        const slots = Effect.zipRight(
          slotFreed.until(() => connections < limits.maxConnections && handshakes < limits.maxHandshakes),
          Effect.sync(() => {
            connections++
            handshakes++
          })
        )
        const giveBack = Effect.sync(() => {
          connections--
          handshakes--
          slotFreed.signal()
        })
        return yield* Effect.forever(
          Effect.uninterruptibleMask((restore) =>
            Effect.zipRight(
              restore(slots),
              Effect.flatMap(
                Effect.onError(restore(accept), () => giveBack),
                (c) => FiberSet.run(fibers, runConnection(c))
              )
            )
          )
        )
      }).pipe(Effect.scoped)
  }
}

/** Whether the server's handshakes need core to read the ClientHello (resolver services). */
const resolvesFromClientHello = Effect.map(
  Effect.all([Effect.serviceOption(SniResolver), Effect.serviceOption(AlpnSelector), Effect.serviceOption(TicketKeys)]),
  ([sni, alpn, tickets]) => Option.isSome(sni) || Option.isSome(alpn) || Option.isSome(tickets)
)

/**
 * The runtime's `clientEngines`, remembered by content: a client that
 * connects again and again with the same options (the common case) builds
 * its native context (CA store, certificate, key) once, not per connect.
 */
const cachedClientEngines = (runtime: TlsRuntime) =>
  serverHandshake.cachedByContent(runtime.clientEngines, (resolved: O.ResolvedClient) =>
    JSON.stringify([
      resolved.ca ?? null,
      resolved.crl ?? null,
      resolved.certChain ?? null,
      resolved.key === undefined ? null : Redacted.value(resolved.key),
      resolved.minVersion,
      resolved.maxVersion,
      resolved.alpnProtocols,
      resolved.ciphers ?? null,
      resolved.sni ?? null,
      resolved.verifyHost,
      resolved.verify
    ]))

/** Options objects already warned about for `verify: false`. */
const warnedUnverified = new WeakSet<object>()

/**
 * `verify: false` logs a warning once per options object: the host (or
 * server name) only, never anything from the certificates or keys.
 */
const warnIfUnverified = (input: object, resolved: O.ResolvedClient, host: string | undefined) =>
  Effect.suspend(() => {
    if (resolved.verify || warnedUnverified.has(input)) return Effect.void
    warnedUnverified.add(input)
    const name = resolved.verifyHost !== "" ? resolved.verifyHost : host ?? "(no name)"
    return Effect.logWarning(
      `TLS certificate verification is off (verify: false) for ${name}: the peer is not authenticated`
    )
  })

const EMPTY = new Uint8Array(0)

/** `TlsServer.reload` on a native listener that cannot. */
const cannotReload = new TlsConfigError({
  option: "reload",
  reason: "this server runs on the runtime's own TLS listener, which keeps the TLS context it was bound with " +
    "(Bun: oven-sh/bun#43815); give the reload option at listen to serve from a listener that can"
})

/** The `reload` option: a SubscriptionRef, a Stream, or nothing. */
const reloadSource = (
  input: unknown
): Effect.Effect<
  SubscriptionRef.SubscriptionRef<O.ServerContext> | Stream.Stream<O.ServerContext, unknown> | undefined,
  TlsConfigError
> => {
  if (input === undefined) return Effect.succeed(undefined)
  if (typeof input === "object" && input !== null && (SubscriptionRef.SubscriptionRefTypeId in input || Stream.StreamTypeId in input)) {
    return Effect.succeed(input as SubscriptionRef.SubscriptionRef<O.ServerContext> | Stream.Stream<O.ServerContext, unknown>)
  }
  return Effect.fail(new TlsConfigError({ option: "reload", reason: "expected a SubscriptionRef or a Stream of server contexts" }))
}

/**
 * A Stream given as the `reload` option: each context is applied as it
 * comes, for as long as the server's scope lasts; a bad one is logged
 * (never its key) and the previous context keeps serving. (A
 * SubscriptionRef is looked at by every handshake instead.)
 */
const followReloads = (
  source: SubscriptionRef.SubscriptionRef<O.ServerContext> | Stream.Stream<O.ServerContext, unknown> | undefined,
  reload: TlsServer["reload"]
): Effect.Effect<void, never, Scope.Scope> =>
  source === undefined || SubscriptionRef.SubscriptionRefTypeId in source
    ? Effect.void
    : Effect.asVoid(Effect.forkScoped(
      Stream.runForEach(source as Stream.Stream<O.ServerContext, unknown>, (context) =>
        Effect.catchAll(reload(context), (e) =>
          Effect.logWarning("TLS server: a context from the reload option is not applied; the previous one keeps serving", e))).pipe(
          Effect.catchAllCause((cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.void
              : Effect.logWarning("TLS server: the reload option's Stream failed; the server keeps its context", cause))
        )
    ))

/** @internal */
export const make = (runtime: TlsRuntime): TlsService => {
  const serverEngines = serverHandshake.cachedEngines(runtime)
  const clientEngines = cachedClientEngines(runtime)
  /** Resumption is on by default: this service's own cache, unless the context has a `SessionCache`. */
  const defaultSessions = sessionCache.makeMemoryUnsafe()
  /** The cache, the key and a session to offer (`host` undefined: none, for an upgrade to an unknown peer). */
  const sessionsFor = (
    resolved: O.ResolvedClient,
    host: string | undefined,
    port: number | undefined
  ): Effect.Effect<ClientSessions | undefined> =>
    host === undefined ? Effect.succeed(undefined) : Effect.flatMap(Effect.serviceOption(SessionCache), (service) => {
      const cache = Option.getOrElse(service, () => defaultSessions)
      // Resumption turned off: nothing to offer, nothing to keep.
      if (cache === sessionCache.disabled) return Effect.succeed(undefined)
      const key = sessionCache.key(resolved, host, port)
      return Effect.map(sessionCache.offer(cache, key), (offered): ClientSessions => ({ cache, key, offered }))
    })
  /** The runtime's `adopt`, for connections that allow truncation (the native path). */
  const adoptFor = (resolved: O.ResolvedCommon) => resolved.allowTruncation ? runtime.native?.adopt : undefined
  /** A client on the native path through `adopt`, if the runtime can take this transport over. */
  const adopted = (
    transport: Transport,
    factory: TlsEngineFactory,
    resolved: O.ResolvedClient,
    sessions: ClientSessions | undefined
  ) =>
    Option.map(
      Option.flatMap(
        Option.fromNullable(adoptFor(resolved)),
        (adopt) =>
          adopt(transport, factory, { remoteAddress: transport.remoteAddress, received: EMPTY, session: sessions?.offered })
      ),
      (native) =>
        telemetry.handshake(
          "client",
          transport.remoteAddress,
          Effect.flatMap(native, ({ engine, transport }) => clientConnection(engine, transport, resolved, sessions))
        )
    )
  const listen = (input: O.ServerOptions) =>
    Effect.gen(function*() {
      const resolved = yield* options.decodeServer(input)
      const source = yield* reloadSource(input.reload)
      // Only a server that allows truncation may run on the runtime's own
      // listening TLS sockets, and only without resolvers (they need the
      // ClientHello before any TLS runs; `adopt` serves those natively)
      // and without the `reload` option (a native listener may not reload)
      // or ticket keys (picked per ClientHello; Bun's listener takes none).
      const native = !resolved.allowTruncation || source !== undefined || resolved.ticketKeys !== undefined ||
          (yield* resolvesFromClientHello)
        ? Option.none()
        : Option.flatMap(Option.fromNullable(runtime.native?.listen), (listen) => listen(resolved))
      if (Option.isSome(native)) {
        const listener = yield* native.value
        const reload = (context: O.ServerContext) =>
          listener.reload === undefined
            ? Effect.fail(cannotReload)
            : Effect.flatMap(options.decodeContext(resolved, context, "reload"), listener.reload)
        return makeServer(listener.address, listener.accept, (c) => c.transport, (c) =>
          TlsConnection.make(c.engine, c.transport, resolved), resolved, reload)
      }
      const { handshake, reload } = yield* serverHandshake.makeReloadable(
        serverEngines,
        resolved,
        adoptFor(resolved),
        source !== undefined && SubscriptionRef.SubscriptionRefTypeId in source ? source : undefined
      )
      const listener = yield* runtime.listen(resolved.host, resolved.port, resolved.backlog, {
        reusePort: resolved.reusePort
      })
      yield* followReloads(source, reload)
      return makeServer(listener.address, listener.accept, identity, handshake, resolved, reload)
    })
  return {
    connect: (input) =>
      telemetry.connect(input.host, input.port, releasingOnFailure(Effect.gen(function*() {
        const resolved = yield* options.decodeClient(input)
        yield* warnIfUnverified(input, resolved, resolved.host)
        const millis = Duration.toMillis(resolved.connectTimeout)
        const withinConnectTimeout = <A, E, R>(step: Effect.Effect<A, E, R>) =>
          deadline.timeoutFail(step, resolved.connectTimeout, () => new TlsTimeoutError({ phase: "connect", millis }))
        // The same TlsConfigError on every path, before any socket (and the
        // engine factory is cached, so this costs nothing the second time).
        const factory = yield* clientEngines(resolved)
        const connectNative = resolved.allowTruncation ? runtime.native?.connect : undefined
        // Taken once, before any socket: the session goes to whichever path connects.
        const sessions = yield* sessionsFor(resolved, resolved.host, resolved.port)
        const native = connectNative === undefined
          ? Option.none()
          : connectNative(resolved, { session: sessions?.offered })
        if (Option.isSome(native)) {
          const { engine, transport } = yield* withinConnectTimeout(native.value)
          return yield* telemetry.handshake(
            "client",
            transport.remoteAddress,
            clientConnection(engine, transport, resolved, sessions)
          )
        }
        const transport = yield* withinConnectTimeout(runtime.connect(resolved.host, resolved.port))
        const viaAdopt = adopted(transport, factory, resolved, sessions)
        if (Option.isSome(viaAdopt)) return yield* viaAdopt.value
        return yield* handshakeOver(factory, transport, resolved, sessions)
      }))),
    upgrade: (transport, input) =>
      Effect.gen(function*() {
        const resolved = yield* options.decodeUpgrade(input)
        if (resolved.role === "client") {
          yield* warnIfUnverified(input, resolved, undefined)
          const factory = yield* clientEngines(resolved)
          const t = yield* owned(transport)
          const sessions = yield* sessionsFor(resolved, t.remoteAddress, undefined)
          const viaAdopt = adopted(t, factory, resolved, sessions)
          if (Option.isSome(viaAdopt)) return yield* viaAdopt.value
          return yield* handshakeOver(factory, t, resolved, sessions)
        }
        const handshake = yield* serverHandshake.make(serverEngines, resolved, adoptFor(resolved))
        const t = yield* owned(transport)
        return yield* telemetry.handshake("server", t.remoteAddress, handshake(t))
      }),
    listen,
    serve: (input, handler) =>
      listen(input).pipe(
        Effect.flatMap((server) => server.serve(handler)),
        Effect.scoped
      )
  }
}
