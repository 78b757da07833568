// A server process for the reusePort test: binds 127.0.0.1:<port> with
// reusePort, prints {"event":"listening","address":...}, and writes its id
// to every client. Plain JavaScript over the built packages (dist), so that
// Node 20 and 24 and Bun run it as is.
// Given a ticket secret file, its ticket keys are derived from the secret
// (TicketKeys.fromSecret) and it writes {"id":...,"reused":...} instead.
// Usage: idServer.mjs <node|bun> <id> <port> <certFile> <keyFile> [ticketSecretFile]
import * as TicketKeys from "@effect-tls/core/TicketKeys"
import * as Tls from "@effect-tls/core/Tls"
import { Effect, Redacted } from "effect"
import { readFileSync } from "node:fs"

const [runtime, id, port, certFile, keyFile, secretFile] = process.argv.slice(2)
const { layer } = runtime === "bun" ? await import("@effect-tls/bun/BunTls") : await import("@effect-tls/node/NodeTls")

const program = Effect.gen(function*() {
  const ticketKeys = secretFile === undefined
    ? undefined
    : yield* TicketKeys.fromSecret(Redacted.make(new Uint8Array(readFileSync(secretFile))), { period: "1 hour" })
  const server = yield* Tls.listen({
    host: "127.0.0.1",
    port: Number(port),
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
    reusePort: true,
    ticketKeys
  })
  console.log(JSON.stringify({ event: "listening", address: `127.0.0.1:${server.address.port}` }))
  return yield* server.serve((c) =>
    Effect.zipRight(c.write(ticketKeys === undefined ? id : JSON.stringify({ id, reused: c.info.sessionReused })), c.read)
  )
})

Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(layer))).catch((e) => {
  console.log(JSON.stringify({ event: "failed", error: String(e) }))
  process.exit(1)
})
