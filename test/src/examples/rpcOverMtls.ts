// The README's RPC-over-mutual-TLS example, kept here so that it type-checks.
import { Rpc, RpcClient, RpcGroup, RpcSerialization, RpcServer } from "@effect/rpc"
import * as TlsSocket from "@effect-tls/core/TlsSocket"
import * as NodeTlsSocket from "@effect-tls/node/NodeTlsSocket"
import { Effect, Layer, Option, Schema } from "effect"
import { readFileSync } from "node:fs"

class Greeter extends RpcGroup.make(
  Rpc.make("Greet", { payload: { name: Schema.String }, success: Schema.String })
) {}

// ca.pem signed both leaves: server.pem (for localhost) and client.pem.
const pem = (file: string) => readFileSync(`certs/${file}`)

// The server: TLS on port 8443, a client certificate signed by ca.pem required.
const ServerLive = RpcServer.layer(Greeter).pipe(
  Layer.provide(Greeter.toLayer({ Greet: ({ name }) => Effect.succeed(`hello ${name}`) })),
  Layer.provide(RpcServer.layerProtocolSocketServer),
  Layer.provide(NodeTlsSocket.layerServer({
    port: 8443,
    cert: pem("server.pem"),
    key: pem("server.key"),
    requestCert: true,
    ca: pem("ca.pem")
  })),
  Layer.provide(RpcSerialization.layerNdjson)
)

// The client: verifies the server against ca.pem and presents its own
// certificate; reconnects under the protocol's retry schedule.
const ClientLive = RpcClient.layerProtocolSocket().pipe(
  Layer.provide(NodeTlsSocket.layer({
    host: "localhost",
    port: 8443,
    ca: pem("ca.pem"),
    cert: pem("client.pem"),
    key: pem("client.key")
  })),
  Layer.provide(RpcSerialization.layerNdjson)
)

const program = Effect.gen(function*() {
  const client = yield* RpcClient.make(Greeter)
  console.log(yield* client.Greet({ name: "mTLS" }))
}).pipe(
  // RpcClientError (reason Protocol) -> SocketError -> our TlsError, e.g.
  // TlsAlertError certificate_required when the server wants a certificate.
  Effect.catchTag("RpcClientError", (error) =>
    Option.match(TlsSocket.findTlsError(error), {
      onNone: () => Effect.fail(error),
      onSome: (tls) => Effect.logError(`TLS: ${tls._tag} ${tls.message}`)
    }))
)

export const server = Layer.launch(ServerLive)
export const client = program.pipe(Effect.provide(ClientLive), Effect.scoped)
// Effect.runFork(server) in one process, Effect.runPromise(client) in another.
