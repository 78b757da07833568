/** @internal */
import type * as Socket from "@effect/platform/Socket"
import * as SocketServer from "@effect/platform/SocketServer"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Tls from "../Tls.js"
import type { ServerOptions } from "../TlsOptions.js"
import * as tlsSocket from "./tlsSocket.js"

/** @internal */
export const make = (
  options: ServerOptions,
  socketOptions?: tlsSocket.SocketOptions
): Effect.Effect<SocketServer.SocketServer["Type"], SocketServer.SocketServerError, Tls.Tls | Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* Tls.listen(options).pipe(
      Effect.mapError((cause) => new SocketServer.SocketServerError({ reason: "Open", cause }))
    )
    const run = <R, E, _>(
      handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>
    ): Effect.Effect<never, SocketServer.SocketServerError, R> =>
      server.serve((connection) => handler(tlsSocket.fromAccepted(connection, socketOptions))).pipe(Effect.mapError((cause) => new SocketServer.SocketServerError({ reason: "Unknown", cause })))
    return SocketServer.SocketServer.of({
      address: { _tag: "TcpAddress", hostname: server.address.host, port: server.address.port },
      run
    })
  })

/** @internal */
export const layer = (
  options: ServerOptions,
  socketOptions?: tlsSocket.SocketOptions
): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError, Tls.Tls> =>
  Layer.scoped(SocketServer.SocketServer, make(options, socketOptions))
