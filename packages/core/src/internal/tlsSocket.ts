/** @internal */
import * as Socket from "@effect/platform/Socket"
import * as Cause from "effect/Cause"
import * as Channel from "effect/Channel"
import type * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberSet from "effect/FiberSet"
import { constVoid } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Tls from "../Tls.js"
import type { TlsConnection, TlsConnectionError } from "../TlsConnection.js"
import { isTlsError, TlsClosedError, type TlsError } from "../TlsError.js"
import type { ClientOptions } from "../TlsOptions.js"

const ConnectionKey: unique symbol = Symbol.for("@effect-tls/core/TlsSocket/connection")

interface WithConnection {
  readonly [ConnectionKey]: () => TlsConnection | undefined
}

/** @internal */
export const connection = (socket: Socket.Socket): Option.Option<TlsConnection> =>
  ConnectionKey in socket ? Option.fromNullable((socket as unknown as WithConnection)[ConnectionKey]()) : Option.none()

/** @internal */
export interface SocketOptions {
  readonly closeCodeIsError?: ((code: number) => boolean) | undefined
}

/** @internal */
export const findTlsError = (u: unknown): Option.Option<TlsError> => {
  let current = u
  // An error's `cause`, a `Cause`'s squashed error: a few links at most.
  for (let depth = 0; depth < 16; depth++) {
    if (isTlsError(current)) return Option.some(current)
    if (Cause.isCause(current)) current = Cause.squash(current)
    else if (typeof current === "object" && current !== null && "cause" in current) current = current.cause
    else break
  }
  return Option.none()
}

/** A failed open; a connect or handshake that ran out of time is `OpenTimeout`. */
const openError = (cause: TlsConnectionError): Socket.SocketGenericError =>
  new Socket.SocketGenericError({
    reason: cause._tag === "TlsTimeoutError" && (cause.phase === "connect" || cause.phase === "handshake")
      ? "OpenTimeout"
      : "Open",
    cause
  })

const readError = (cause: TlsConnectionError) => new Socket.SocketGenericError({ reason: "Read", cause })
const writeError = (cause: TlsConnectionError) => new Socket.SocketGenericError({ reason: "Write", cause })

/** The connection of the run in progress. */
interface Current {
  readonly connection: TlsConnection
  /** Completing it ends the run (a local CloseEvent; a handler's failure completes it too). */
  readonly ended: Deferred.Deferred<void, unknown>
  /** The CloseEvent written to end the run, if one was. */
  closing: Socket.SocketCloseError | undefined
}

/**
 * A `Socket` whose every `run` opens a connection with `open`, in the
 * run's scope: the connection is closed (close_notify, bounded by its
 * `closeGrace`) when the run ends, and a later `run` opens a new one.
 *
 * @internal
 */
export const fromConnection = <R>(
  open: Effect.Effect<TlsConnection, TlsConnectionError, R>,
  options?: SocketOptions
): Effect.Effect<Socket.Socket, never, Exclude<R, Scope.Scope>> =>
  Effect.map(Effect.context<Exclude<R, Scope.Scope>>(), (context) =>
    unsafeMake(
      Effect.mapInputContext(
        open,
        (input: Context.Context<Scope.Scope>) => Context.merge(context, input) as Context.Context<R>
      ),
      options
    ))

/**
 * The socket of a connection a server accepted: its one `run` reads that
 * connection (a second fails with `Open`); the connection's own scope (the
 * server's handler) closes it.
 *
 * @internal
 */
export const fromAccepted = (connection: TlsConnection, options?: SocketOptions): Socket.Socket => {
  let used = false
  return unsafeMake(
    Effect.suspend(() => {
      if (used) return Effect.fail(new TlsClosedError({ operation: "run" }))
      used = true
      return Effect.succeed(connection)
    }),
    options,
    connection
  )
}

const unsafeMake = (
  open: Effect.Effect<TlsConnection, TlsConnectionError, Scope.Scope>,
  options: SocketOptions | undefined,
  accepted?: TlsConnection
): Socket.Socket => {
  const closeCodeIsError = options?.closeCodeIsError ?? Socket.defaultCloseCodeIsError
  const isCleanClose = Socket.SocketCloseError.isClean((code) => !closeCodeIsError(code))
  // Writers wait here while no run has a connection (as in Effect's own sockets).
  const latch = Effect.unsafeMakeLatch(false)
  let current: Current | undefined
  const release = (run: Current | undefined) => {
    if (run !== undefined && current === run) {
      current = undefined
      latch.unsafeClose()
    }
  }

  const runRaw = <_, E, R>(
    handler: (data: Uint8Array) => Effect.Effect<_, E, R> | void,
    opts?: { readonly onOpen?: Effect.Effect<void> | undefined }
  ): Effect.Effect<void, Socket.SocketError | E, R> =>
    Effect.scopedWith((scope) => {
      let mine: Current | undefined
      return Effect.gen(function*() {
        const handlers = yield* Scope.extend(FiberSet.make<unknown, E | Socket.SocketError>(), scope)
        const connection = yield* Scope.extend(open, scope).pipe(Effect.mapError(openError))
        const runFork = yield* FiberSet.runtime(handlers)<R>()
        mine = { connection, ended: handlers.deferred, closing: undefined }
        const run = mine
        current = mine
        yield* latch.open
        if (opts?.onOpen) yield* opts.onOpen

        // One read at a time, each chunk handed to `handler` at once; the
        // Effects it returns run in their own fibers (a failure ends the run).
        let reading = true
        const readOnce = Effect.map(connection.read, (chunk) => {
          if (chunk._tag === "None") {
            reading = false
            return
          }
          const result = handler(chunk.value)
          if (Effect.isEffect(result)) runFork(result)
        })
        // The peer's close_notify ends the run cleanly, once the handlers of
        // what came before it are done; truncation is a Read error.
        const reader = Effect.whileLoop({ while: () => reading, body: () => readOnce, step: constVoid }).pipe(
          // A failed connection takes no more writes (they wait for the next run).
          Effect.mapError((cause) => {
            release(mine)
            return readError(cause)
          }),
          Effect.zipRight(Effect.suspend(() => {
            release(mine)
            return FiberSet.awaitEmpty(handlers)
          }))
        )
        const exit = yield* Effect.exit(Effect.raceFirst(reader, FiberSet.join(handlers)))
        // A CloseEvent ends the run whatever the reader saw meanwhile. Its
        // code 1000 is a normal close (the run's scope sends close_notify
        // after what was written); any other code is an error: the
        // connection is cut off without close_notify, so the peer sees it.
        const closing = run.closing
        if (closing !== undefined) {
          if (closing.code !== 1000) yield* run.connection.abort
          return yield* isCleanClose(closing) ? Effect.void : Effect.fail(closing)
        }
        return yield* Effect.catchIf(exit, isCleanClose, () => Effect.void)
      }).pipe(
        // No write reaches this connection once the run is over, even while
        // its scope is still closing it.
        Effect.ensuring(Effect.sync(() => release(mine)))
      )
    }).pipe(Effect.interruptible)

  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> =>
    latch.whenOpen(Effect.suspend(() => {
      const run = current
      // The run ended between the latch opening and this fiber resuming:
      // wait for the next one.
      if (run === undefined) return write(chunk)
      if (Socket.isCloseEvent(chunk)) {
        release(run)
        const closing = new Socket.SocketCloseError({ reason: "Close", code: chunk.code, closeReason: chunk.reason })
        run.closing = closing
        return Deferred.done(run.ended, Exit.fail(closing))
      }
      return Effect.mapError(run.connection.write(chunk), writeError)
    }))

  // Releasing the writer ends the write side: close_notify, then the
  // transport's half-close; reading goes on until the peer's close_notify.
  const writer = Effect.acquireRelease(
    Effect.succeed(write),
    () => Effect.suspend(() => current === undefined ? Effect.void : Effect.ignore(current.connection.shutdown))
  )

  const socket: Socket.Socket & WithConnection = {
    [Socket.TypeId]: Socket.TypeId,
    [ConnectionKey]: () => accepted ?? current?.connection,
    run: runRaw,
    runRaw: runRaw as Socket.Socket["runRaw"],
    writer
  }
  return socket
}

/** @internal */
export const make = (options: ClientOptions, socketOptions?: SocketOptions): Effect.Effect<Socket.Socket, never, Tls.Tls> =>
  Effect.flatMap(Tls.Tls, (tls) => fromConnection(tls.connect(options), socketOptions))

/** @internal */
export const layer = (options: ClientOptions, socketOptions?: SocketOptions): Layer.Layer<Socket.Socket, never, Tls.Tls> =>
  Layer.effect(Socket.Socket, make(options, socketOptions))

/** @internal */
export const makeChannel = <IE = never>(
  options: ClientOptions,
  socketOptions?: SocketOptions
): Channel.Channel<
  Chunk.Chunk<Uint8Array>,
  Chunk.Chunk<Uint8Array | string | Socket.CloseEvent>,
  Socket.SocketError | IE,
  IE,
  void,
  unknown,
  Tls.Tls
> => Channel.unwrapScoped(Effect.map(make(options, socketOptions), Socket.toChannelWith<IE>()))
