import * as SniResolver from "@effect-tls/core/SniResolver"
import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import { type TlsError, TlsTimeoutError } from "@effect-tls/core/TlsError"
import type { ServerContext } from "@effect-tls/core/TlsOptions"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createPrivateKey, X509Certificate } from "node:crypto"
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import type { CertificateFiles, ReloadResult, Route, ServeConfig, Terminator } from "../Serve.js"
import { TlsPlatform } from "../TlsPlatform.js"
import { encodeV2, splitAddress } from "./proxyProtocol.js"

/** @internal */
export class ServeConfigError extends Data.TaggedError("ServeConfigError")<{ readonly reason: string }> {
  override get message(): string {
    return this.reason
  }
}

const configError = (reason: string) => new ServeConfigError({ reason })

const readText = (path: string, what: string) =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (e) => configError(`cannot read ${what} ${path}: ${(e as { code?: string }).code ?? String(e)}`)
  })

const parseAddress = (text: string, what: string) => {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text)
  const port = m === null ? NaN : Number(m[2])
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    return Effect.fail(configError(`${what}: expected host:port, got ${JSON.stringify(text)}`))
  }
  return Effect.succeed({ host: m[1]!, port })
}

/** @internal */
export const parseRoute = (text: string): Effect.Effect<Route, ServeConfigError> => {
  const eq = text.lastIndexOf("=")
  if (eq <= 0) return Effect.fail(configError(`--route: expected name[/alpn]=host:port, got ${JSON.stringify(text)}`))
  const left = text.slice(0, eq)
  const slash = left.indexOf("/")
  const name = (slash === -1 ? left : left.slice(0, slash)).toLowerCase()
  const alpn = slash === -1 ? undefined : left.slice(slash + 1)
  if (name === "" || alpn === "") return Effect.fail(configError(`--route: empty name or ALPN in ${JSON.stringify(text)}`))
  return Effect.map(parseAddress(text.slice(eq + 1), "--route"), (backend) => ({ name, alpn, backend }))
}

/** @internal */
export const parseSni = (text: string): Effect.Effect<readonly [string, CertificateFiles], ServeConfigError> => {
  const m = /^([^=]+)=([^,]+),(.+)$/.exec(text)
  if (m === null) return Effect.fail(configError(`--sni: expected name=cert.pem,key.pem, got ${JSON.stringify(text)}`))
  return Effect.succeed([m[1]!.toLowerCase(), { certFile: m[2]!, keyFile: m[3]! }] as const)
}

interface Loaded {
  readonly resolver: SniResolver.SniResolverService
  readonly names: ReadonlyArray<string>
  readonly fallback: ServerContext
}

/**
 * Read a certificate and its key, and check that the key is the
 * certificate's (the resolver's own checks are about PEM shapes), so that a
 * reload with a mismatched pair is refused instead of failing handshakes.
 */
const readContext = (files: CertificateFiles): Effect.Effect<ServerContext, ServeConfigError> =>
  Effect.flatMap(
    Effect.all([readText(files.certFile, "certificate"), readText(files.keyFile, "key")]),
    ([cert, key]) =>
      Effect.try({
        try: () => {
          if (!new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))) throw new Error("mismatch")
          return { cert, key: Redacted.make(key) }
        },
        catch: (e) =>
          configError(
            (e as Error).message === "mismatch"
              ? `the key ${files.keyFile} does not belong to the certificate ${files.certFile}`
              : `cannot use the certificate ${files.certFile} with the key ${files.keyFile}: not a PEM certificate and private key`
          )
      })
  )

/**
 * The directory's `NAME.pem` + `NAME.key` pairs, by name. A file name that
 * starts with `_wildcard.` (mkcert's convention) serves `*.` and the rest.
 */
const listDirectory = (dir: string) =>
  Effect.tryPromise({
    try: () => readdir(dir),
    catch: (e) => configError(`cannot read --sni-dir ${dir}: ${(e as { code?: string }).code ?? String(e)}`)
  }).pipe(Effect.map((files) =>
    files
      .filter((f) => f.endsWith(".pem") && files.includes(`${f.slice(0, -4)}.key`))
      .sort()
      .map((f) => {
        const base = f.slice(0, -4)
        const name = base.toLowerCase().replace(/^_wildcard\./, "*.")
        return [name, { certFile: join(dir, f), keyFile: join(dir, `${base}.key`) }] as const
      })
  ))

/** Read every certificate of `config` and build the resolver over them. */
const load = (config: ServeConfig): Effect.Effect<Loaded, ServeConfigError> =>
  Effect.gen(function*() {
    const fromDirectory = config.sniDirectory === undefined ? [] : yield* listDirectory(config.sniDirectory)
    const entries = [...config.sni, ...fromDirectory]
    const contexts = yield* Effect.forEach(entries, ([name, files]) => Effect.map(readContext(files), (c) => [name, c] as const))
    const fallback = config.defaultCertificate !== undefined
      ? yield* readContext(config.defaultCertificate)
      : contexts[0]?.[1]
    if (fallback === undefined) {
      return yield* configError("no certificate: give --sni, --sni-dir (with NAME.pem and NAME.key files) or --cert and --key")
    }
    const resolver = yield* SniResolver.fromRecord(Object.fromEntries(contexts), { fallback }).pipe(
      Effect.mapError((e) => configError(e.message))
    )
    return { resolver, names: contexts.map(([name]) => name), fallback }
  })

const nameMatches = (pattern: string, servername: Option.Option<string>) =>
  pattern === "*" || (Option.isSome(servername) && SniResolver.matches(pattern, servername.value))

/**
 * The route for a connection: a name with its ALPN protocol, then the name
 * alone, then `*` with the protocol, then `*` alone; the first of each kind
 * in the order given.
 */
const pickRoute = (routes: ReadonlyArray<Route>, servername: Option.Option<string>, alpn: Option.Option<string>) => {
  const rank = (r: Route) => {
    if (!nameMatches(r.name, servername)) return -1
    if (r.alpn !== undefined && (Option.isNone(alpn) || alpn.value !== r.alpn)) return -1
    return (r.name === "*" ? 0 : 2) + (r.alpn === undefined ? 0 : 1)
  }
  let best: Route | undefined
  let bestRank = -1
  for (const r of routes) {
    const k = rank(r)
    if (k > bestRank) {
      best = r
      bestRank = k
    }
  }
  return best
}

const addressText = (a: { host: string; port: number }) => (a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`)

const describeCause = (cause: Cause.Cause<unknown>) =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => ({ tag: Cause.isInterruptedOnly(cause) ? "Interrupted" : "Defect", message: Cause.pretty(cause).split("\n")[0] ?? "" }),
    onSome: (e) => ({
      tag: (e as { _tag?: string })._tag ?? "Error",
      message: e instanceof Error ? e.message : String(e)
    })
  })

const defaultLog = (entry: Record<string, unknown>) => Console.log(JSON.stringify(entry))

/** @internal */
export const start = (
  config: ServeConfig
): Effect.Effect<Terminator, ServeConfigError | TlsError, Tls.Tls | TlsPlatform | Scope.Scope> =>
  Effect.gen(function*() {
    const platform = yield* TlsPlatform
    const log = config.log ?? defaultLog
    const first = yield* load(config)
    const current = yield* Ref.make(first)
    const resolver = SniResolver.make((servername, hello) =>
      Effect.flatMap(Ref.get(current), (loaded) => loaded.resolver.resolve(servername, hello))
    )
    const clientCa = config.clientCaFile === undefined ? undefined : yield* readText(config.clientCaFile, "--client-ca")
    const alpn = config.alpnProtocols ??
      [...new Set(config.routes.flatMap((r) => (r.alpn === undefined ? [] : [r.alpn])))]
    const millis = (ms: number | undefined) => (ms === undefined ? undefined : Duration.millis(ms))
    // The listening socket has a scope of its own, closed when a drain
    // starts: new clients are refused while open connections go on (closing
    // a listener leaves the connections it accepted alone).
    const listening = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
    const server = yield* Tls.listen({
      host: config.listen.host,
      port: config.listen.port,
      cert: first.fallback.cert,
      key: first.fallback.key,
      alpnProtocols: alpn.length > 0 ? alpn : undefined,
      ca: clientCa,
      requestCert: clientCa !== undefined,
      maxConnections: config.maxConnections,
      maxHandshakes: config.maxHandshakes,
      idleTimeout: millis(config.idleTimeoutMillis),
      handshakeTimeout: millis(config.handshakeTimeoutMillis),
      closeGrace: millis(config.closeGraceMillis)
    }).pipe(Effect.provideService(SniResolver.SniResolver, resolver), Scope.extend(listening))

    const draining = yield* Deferred.make<void>()
    const hardStop = yield* Deferred.make<void>()
    const drainTimeout = Duration.millis(config.drainTimeoutMillis ?? 30_000)
    const connectTimeout = config.connectTimeoutMillis ?? 10_000
    let active = 0

    /** Copy bytes both ways between the client and its backend. */
    const proxy = (
      conn: TlsConnection,
      backendAddress: { host: string; port: number },
      stats: { fromClient: number; toClient: number }
    ) =>
      Effect.gen(function*() {
        const backend = yield* platform.connect(backendAddress.host, backendAddress.port).pipe(
          Effect.timeoutFail({
            duration: Duration.millis(connectTimeout),
            onTimeout: () => new TlsTimeoutError({ phase: "connect", millis: connectTimeout })
          })
        )
        if (config.proxyProtocol === true) {
          yield* backend.write(encodeV2(splitAddress(conn.remoteAddress), server.address, {
            alpn: Option.getOrUndefined(conn.info.alpnProtocol),
            authority: Option.getOrUndefined(conn.info.servername)
          }))
        }
        const up = Stream.runForEach(conn.stream, (chunk) => {
          stats.fromClient += chunk.length
          return backend.write(chunk)
        }).pipe(Effect.zipRight(backend.end))
        const down = Effect.gen(function*() {
          while (true) {
            const chunk = yield* backend.read
            if (Option.isNone(chunk)) break
            stats.toClient += chunk.value.length
            yield* conn.write(chunk.value)
          }
          yield* conn.shutdown
        })
        yield* Effect.all([up, down], { concurrency: 2, discard: true })
      }).pipe(Effect.scoped)

    const handle = (conn: TlsConnection) =>
      Effect.gen(function*() {
        const started = yield* Clock.currentTimeMillis
        const info = conn.info
        const route = pickRoute(config.routes, info.servername, info.alpnProtocol)
        const backend = route?.backend ?? config.defaultBackend
        const stats = { fromClient: 0, toClient: 0 }
        const deadline = Effect.raceFirst(
          Effect.zipRight(Deferred.await(draining), Effect.sleep(drainTimeout)),
          Deferred.await(hardStop)
        )
        const exit = backend === undefined
          ? Exit.succeed("no-route" as const)
          : yield* Effect.exit(Effect.raceFirst(
            Effect.as(proxy(conn, backend, stats), "closed" as const),
            Effect.as(deadline, "stopped" as const)
          ))
        const ended = yield* Clock.currentTimeMillis
        const cert = Option.getOrUndefined(info.peerCertificate)
        yield* log({
          event: "connection",
          client: conn.remoteAddress ?? null,
          servername: Option.getOrNull(info.servername),
          alpn: Option.getOrNull(info.alpnProtocol),
          protocol: info.protocol,
          cipher: info.cipher,
          clientCertificate: clientCa === undefined || cert === undefined ? null : cert.subject.CN ?? null,
          route: route === undefined
            ? (backend === undefined ? null : "default")
            : `${route.name}${route.alpn === undefined ? "" : `/${route.alpn}`}`,
          backend: backend === undefined ? null : addressText(backend),
          bytesFromClient: stats.fromClient,
          bytesToClient: stats.toClient,
          durationMs: ended - started,
          outcome: Exit.isSuccess(exit) ? exit.value : "error",
          error: Exit.isFailure(exit) ? describeCause(exit.cause) : null
        })
        if (Exit.isSuccess(exit) && exit.value === "stopped") yield* conn.abort
      })

    // A connection in progress is not interrupted when serve is (a drain):
    // it ends on its own, at the drain deadline, or when the scope closes
    // (hardStop). It runs in a fiber of its own that is not a child of the
    // handler's (an interrupted fiber passes the interruption on to its
    // children), and the handler waits for it without being interruptible.
    const handler = (conn: TlsConnection) =>
      Effect.sync(() => active++).pipe(
        Effect.zipRight(handle(conn)),
        Effect.ensuring(Effect.sync(() => active--)),
        Effect.interruptible,
        Effect.forkDaemon,
        Effect.flatMap(Fiber.join),
        Effect.uninterruptible
      )

    const serving = yield* Effect.forkScoped(server.serve(handler))
    // Runs before the serve fiber is interrupted (finalizers run in reverse).
    yield* Effect.addFinalizer(() => Deferred.succeed(hardStop, undefined))
    yield* log({
      event: "listening",
      address: addressText(server.address),
      names: first.names,
      alpn,
      proxyProtocol: config.proxyProtocol === true,
      clientCertificates: clientCa !== undefined
    })

    const reload: Effect.Effect<ReloadResult> = load(config).pipe(
      Effect.tap((loaded) => Ref.set(current, loaded)),
      Effect.map((loaded): ReloadResult => ({ ok: true, names: loaded.names })),
      Effect.catchAll((e) => Effect.succeed<ReloadResult>({ ok: false, error: e.message })),
      Effect.tap((result) => log({ event: "reload", ...result }))
    )
    const drain = Effect.gen(function*() {
      if (!(yield* Deferred.succeed(draining, undefined))) return yield* Fiber.await(serving)
      // Stop accepting, close the listening socket, then wait for the
      // connections (the accept loop may end interrupted, or failed by the
      // closed socket: either way its connections are waited for).
      yield* Fiber.interruptFork(serving)
      yield* Scope.close(listening, Exit.void)
      yield* log({ event: "draining", connections: active, timeoutMs: Duration.toMillis(drainTimeout) })
      yield* Fiber.await(serving)
      yield* log({ event: "stopped" })
    }).pipe(Effect.uninterruptible, Effect.asVoid)
    const done = Fiber.join(serving).pipe(
      Effect.catchAllCause((cause) =>
        Effect.flatMap(Deferred.isDone(draining), (drained) => (drained ? Effect.void : Effect.failCause(cause)))
      )
    )
    return { address: server.address, reload, drain, done, active: Effect.sync(() => active) }
  })
