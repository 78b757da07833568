import { execFile } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** @internal */
export class DemoPkiError extends Data.TaggedError("DemoPkiError")<{
  readonly step: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `could not generate the demo certificates (${this.step}): is the openssl CLI installed?`
  }
}

/** @internal */
export interface DemoPki {
  readonly rootCert: string
  /** The localhost leaf followed by the intermediate. */
  readonly serverChain: string
  readonly serverKey: string
}

const run = (dir: string, args: ReadonlyArray<string>) =>
  Effect.async<void, DemoPkiError>((resume) => {
    const child = execFile("openssl", args, { cwd: dir, timeout: 30_000 }, (error) =>
      resume(error === null ? Effect.void : Effect.fail(new DemoPkiError({ step: `openssl ${args[0]}`, cause: error }))))
    return Effect.sync(() => child.kill())
  })

const serial = () => "0x" + Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16)).join("")

const io = <A>(step: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new DemoPkiError({ step, cause }) })

const EXTENSIONS = [
  "[req]",
  "distinguished_name=dn",
  "[dn]",
  "[ca]",
  "basicConstraints=critical,CA:TRUE",
  "keyUsage=critical,keyCertSign,cRLSign",
  "subjectKeyIdentifier=hash",
  "[intermediate]",
  "basicConstraints=critical,CA:TRUE,pathlen:0",
  "keyUsage=critical,keyCertSign,cRLSign",
  "subjectKeyIdentifier=hash",
  "authorityKeyIdentifier=keyid",
  "[leaf]",
  "basicConstraints=critical,CA:FALSE",
  "keyUsage=critical,digitalSignature",
  "extendedKeyUsage=serverAuth",
  "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ""
].join("\n")

/**
 * A root CA, an intermediate and a `localhost` leaf (ECDSA P-256, valid for
 * two days), made with the openssl CLI in a temporary directory that the
 * scope removes.
 *
 * @internal
 */
export const make: Effect.Effect<DemoPki, DemoPkiError, Scope.Scope> = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    io("mkdtemp", () => mkdtemp(join(tmpdir(), "effect-tls-demo-"))),
    (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
  )
  yield* io("write openssl.cnf", () => writeFile(join(dir, "openssl.cnf"), EXTENSIONS))
  const key = (name: string) =>
    run(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`])
  yield* key("root")
  yield* run(dir, [
    "req", "-x509", "-new", "-key", "root.key", "-subj", "/CN=effect-tls Demo Root", "-days", "2",
    "-set_serial", serial(), "-sha256", "-config", "openssl.cnf", "-extensions", "ca", "-out", "root.pem"
  ])
  const issue = (name: string, subject: string, issuer: string, extensions: string) =>
    Effect.gen(function*() {
      yield* key(name)
      yield* run(dir, ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-config", "openssl.cnf", "-out", `${name}.csr`])
      yield* run(dir, [
        "x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`, "-set_serial", serial(),
        "-days", "2", "-sha256", "-extfile", "openssl.cnf", "-extensions", extensions, "-out", `${name}.pem`
      ])
    })
  yield* issue("intermediate", "/CN=effect-tls Demo Intermediate", "root", "intermediate")
  yield* issue("server", "/O=effect-tls/CN=localhost", "intermediate", "leaf")
  const read = (file: string) => io(`read ${file}`, () => readFile(join(dir, file), "utf8"))
  const [rootCert, intermediate, server, serverKey] = yield* Effect.all(
    [read("root.pem"), read("intermediate.pem"), read("server.pem"), read("server.key")],
    { concurrency: "unbounded" }
  )
  return { rootCert, serverChain: server + intermediate, serverKey }
})
