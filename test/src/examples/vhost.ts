// The README's virtual-hosting example, kept here so that it type-checks.
import { AlpnSelector, SniResolver, Tls } from "@effect-tls/core"
import { NodeTls } from "@effect-tls/node"
import { Effect, Layer, Option, Stream } from "effect"
import { readFile } from "node:fs/promises"

// certs/<name>.pem holds a certificate chain, certs/<name>.key its key.
const load = (name: string) =>
  Effect.tryPromise(async () => ({ cert: await readFile(`certs/${name}.pem`), key: await readFile(`certs/${name}.key`) }))

// Asked while each handshake is in flight. Names reach it lower-cased and
// checked to be host names (no "/", no empty label), so they are safe as file names.
const certificates = SniResolver.layer((servername) =>
  Option.isSome(servername) && servername.value.endsWith(".example.com")
    ? load(servername.value).pipe(Effect.option) // not on disk: the default certificate
    : Effect.succeedNone
)

const main = Effect.gen(function*() {
  const fallback = yield* load("default")
  yield* Tls.serve({ port: 8443, ...fallback }, (conn) => Stream.run(conn.stream, conn.sink))
})
const services = Layer.mergeAll(NodeTls.layer, certificates, AlpnSelector.layerPreference(["h2", "http/1.1"]))
main.pipe(Effect.provide(services), Effect.runPromise)
