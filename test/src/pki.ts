/**
 * A throwaway PKI made with the `openssl` CLI at test time, so nothing
 * expires: root CA -> intermediate CA -> server leaf (localhost,
 * 127.0.0.1) and client leaf; an unrelated root with its own leaf; a
 * self-signed leaf; an expired leaf; virtual-host leaves (exact.test,
 * *.wild.test).
 *
 * The keys live in a temporary directory that `cleanup` removes; whatever
 * is still there when the process exits, or is stopped by SIGINT, SIGTERM
 * or SIGHUP (Ctrl-C during `npm test`), is removed then.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export interface KeyPair {
  /** The certificate alone. */
  readonly cert: string
  /** The certificate followed by its intermediate. */
  readonly chain: string
  readonly key: string
  readonly certFile: string
  readonly chainFile: string
  readonly keyFile: string
}

export interface Pki {
  readonly dir: string
  readonly root: { readonly cert: string; readonly certFile: string }
  readonly intermediate: { readonly cert: string; readonly certFile: string }
  readonly server: KeyPair
  readonly client: KeyPair
  /** A second, unrelated root and a server leaf it signed (localhost). */
  readonly otherRoot: { readonly cert: string; readonly certFile: string }
  readonly otherServer: KeyPair
  /** Self-signed, CN and SAN localhost. */
  readonly selfSigned: KeyPair
  /** Signed by the intermediate, validity entirely in the past. */
  readonly expired: KeyPair
  /** Signed by the intermediate, for example.com only. */
  readonly wrongHost: KeyPair
  /** Virtual hosts, signed by the intermediate: `exact.test`, and `*.wild.test`. */
  readonly exact: KeyPair
  readonly wildcard: KeyPair
  readonly cleanup: () => void
}

/** Directories made by `generatePki` and not cleaned up yet. */
const live = new Set<string>()

const removeLive = () => {
  for (const dir of live) rmSync(dir, { recursive: true, force: true })
  live.clear()
}

let watching = false

/**
 * Remove the live directories when the process exits or is stopped by a
 * signal. A signal handler replaces the default action (terminating), so
 * when nobody else listens for the signal the handler steps aside and sends
 * the signal again: the process still ends, by that signal.
 */
const watchProcess = () => {
  if (watching) return
  watching = true
  process.on("exit", removeLive)
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      removeLive()
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal)
        process.kill(process.pid, signal)
      }
    }
    process.on(signal, onSignal)
  }
}

const openssl = (dir: string, args: ReadonlyArray<string>) =>
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] })

const serial = () => "0x" + Array.from({ length: 16 }, () => Math.floor(Math.random() * 16).toString(16)).join("")

const genKey = (dir: string, name: string) =>
  openssl(dir, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`])

const selfSignedCa = (dir: string, name: string, cn: string) => {
  genKey(dir, name)
  writeFileSync(
    join(dir, `${name}.ext`),
    "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n"
  )
  openssl(dir, [
    "req", "-x509", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-days", "3",
    "-set_serial", serial(), "-sha256", "-extensions", "v3_ca", "-config", writeReqConfig(dir, name),
    "-out", `${name}.pem`
  ])
}

const writeReqConfig = (dir: string, name: string) => {
  const file = `${name}.cnf`
  writeFileSync(
    join(dir, file),
    [
      "[req]",
      "distinguished_name=dn",
      "[dn]",
      "[v3_ca]",
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign,cRLSign",
      "subjectKeyIdentifier=hash",
      "[v3_leaf]",
      "basicConstraints=critical,CA:FALSE",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ""
    ].join("\n")
  )
  return file
}

const signed = (
  dir: string,
  name: string,
  subject: string,
  issuer: string,
  extensions: string,
  days = 3
) => {
  genKey(dir, name)
  openssl(dir, ["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`])
  writeFileSync(join(dir, `${name}.ext`), extensions)
  openssl(dir, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${issuer}.pem`, "-CAkey", `${issuer}.key`,
    "-set_serial", serial(), "-days", String(days), "-sha256", "-extfile", `${name}.ext`, "-out", `${name}.pem`
  ])
}

/** A certificate whose validity ended yesterday, via `openssl ca` (x509 -req has no start date). */
const expiredLeaf = (dir: string, name: string, issuer: string) => {
  const now = Date.now()
  datedLeafIn(dir, name, issuer, new Date(now - 3 * 86400_000), new Date(now - 86400_000))
}

/** A localhost leaf valid from `start` to `end`, signed by the intermediate of `pki`. */
export const datedLeaf = (pki: Pki, name: string, start: Date, end: Date): KeyPair => {
  datedLeafIn(pki.dir, name, "intermediate", start, end)
  return pairOf(pki.dir, name, true)
}

const datedLeafIn = (dir: string, name: string, issuer: string, start: Date, end: Date) => {
  genKey(dir, name)
  openssl(dir, ["req", "-new", "-key", `${name}.key`, "-subj", "/CN=localhost", "-out", `${name}.csr`])
  writeFileSync(join(dir, "ca-index.txt"), "")
  writeFileSync(join(dir, "ca-serial.txt"), serial().slice(2).toUpperCase() + "\n")
  const fmt = (d: Date) => d.toISOString().replace(/[-:T]/g, "").slice(2, 14) + "Z"
  writeFileSync(
    join(dir, "ca.cnf"),
    [
      "[ca]",
      "default_ca=test",
      "[test]",
      `database=${join(dir, "ca-index.txt")}`,
      `new_certs_dir=${dir}`,
      `certificate=${join(dir, `${issuer}.pem`)}`,
      `private_key=${join(dir, `${issuer}.key`)}`,
      `serial=${join(dir, "ca-serial.txt")}`,
      "default_md=sha256",
      "policy=anything",
      "unique_subject=no",
      "copy_extensions=none",
      "[anything]",
      "commonName=supplied",
      "[leaf]",
      "basicConstraints=critical,CA:FALSE",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "extendedKeyUsage=serverAuth",
      ""
    ].join("\n")
  )
  openssl(dir, [
    "ca", "-batch", "-config", "ca.cnf", "-extensions", "leaf", "-in", `${name}.csr`, "-out", `${name}.pem`,
    "-startdate", fmt(start), "-enddate", fmt(end),
    "-notext"
  ])
}

/**
 * A localhost leaf signed by the intermediate of `pki` and revoked, with
 * the CRLs a verifier that checks every level needs: the intermediate's
 * (listing the leaf) and the root's (listing nothing).
 */
export const revokedLeaf = (pki: Pki, name: string): KeyPair & { readonly crls: ReadonlyArray<string> } => {
  const dir = pki.dir
  const now = Date.now()
  datedLeafIn(dir, name, "intermediate", new Date(now - 86400_000), new Date(now + 2 * 86400_000))
  openssl(dir, ["ca", "-batch", "-config", "ca.cnf", "-revoke", `${name}.pem`])
  openssl(dir, ["ca", "-batch", "-config", "ca.cnf", "-gencrl", "-crldays", "2", "-out", `${name}.intermediate.crl`])
  // The root's CRL: an empty database, the root as the issuer.
  writeFileSync(join(dir, "ca-index.txt"), "")
  writeFileSync(
    join(dir, "ca.cnf"),
    readFileSync(join(dir, "ca.cnf"), "utf8").replaceAll("intermediate.pem", "root.pem").replaceAll(
      "intermediate.key",
      "root.key"
    )
  )
  openssl(dir, ["ca", "-batch", "-config", "ca.cnf", "-gencrl", "-crldays", "2", "-out", `${name}.root.crl`])
  return {
    ...pairOf(dir, name, true),
    crls: [readFileSync(join(dir, `${name}.intermediate.crl`), "utf8"), readFileSync(join(dir, `${name}.root.crl`), "utf8")]
  }
}

export const SERVER_EXT =
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
const CLIENT_EXT =
  "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
const INTERMEDIATE_EXT =
  "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"

const pairOf = (dir: string, name: string, withIntermediate: boolean): KeyPair => {
  const read = (file: string) => readFileSync(join(dir, file), "utf8")
  const cert = read(`${name}.pem`)
  const chain = withIntermediate ? cert + read("intermediate.pem") : cert
  writeFileSync(join(dir, `${name}.chain.pem`), chain)
  return {
    cert,
    chain,
    key: read(`${name}.key`),
    certFile: join(dir, `${name}.pem`),
    chainFile: join(dir, `${name}.chain.pem`),
    keyFile: join(dir, `${name}.key`)
  }
}

/**
 * One more server leaf in `pki`'s directory, signed by its intermediate:
 * `subject` such as `/CN=localhost`, `extensions` as an openssl extfile
 * (`SERVER_EXT` with other names, or without subjectAltName).
 */
export const issueLeaf = (pki: Pki, name: string, subject: string, extensions: string): KeyPair => {
  signed(pki.dir, name, subject, "intermediate", extensions)
  return pairOf(pki.dir, name, true)
}

export const generatePki = (): Pki => {
  watchProcess()
  const dir = mkdtempSync(join(tmpdir(), "effect-tls-pki-"))
  live.add(dir)
  const read = (file: string) => readFileSync(join(dir, file), "utf8")
  selfSignedCa(dir, "root", "effect-tls Test Root")
  signed(dir, "intermediate", "/CN=effect-tls Test Intermediate", "root", INTERMEDIATE_EXT)
  signed(dir, "server", "/O=effect-tls/CN=localhost", "intermediate", SERVER_EXT)
  signed(dir, "client", "/O=effect-tls/CN=test client", "intermediate", CLIENT_EXT)
  signed(dir, "wronghost", "/CN=example.com", "intermediate", SERVER_EXT.replace("DNS:localhost,IP:127.0.0.1", "DNS:example.com"))
  signed(dir, "exact", "/O=effect-tls/CN=exact.test", "intermediate", SERVER_EXT.replace("DNS:localhost,IP:127.0.0.1", "DNS:exact.test"))
  signed(dir, "wildcard", "/O=effect-tls/CN=*.wild.test", "intermediate", SERVER_EXT.replace("DNS:localhost,IP:127.0.0.1", "DNS:*.wild.test"))
  selfSignedCa(dir, "otherroot", "Unrelated Root")
  signed(dir, "otherserver", "/CN=localhost", "otherroot", SERVER_EXT)
  genKey(dir, "selfsigned")
  openssl(dir, [
    "req", "-x509", "-new", "-key", "selfsigned.key", "-subj", "/CN=localhost", "-days", "3",
    "-set_serial", serial(), "-extensions", "v3_leaf", "-config", writeReqConfig(dir, "selfsigned"),
    "-out", "selfsigned.pem"
  ])
  expiredLeaf(dir, "expired", "intermediate")
  const intermediate = read("intermediate.pem")
  const pair = (name: string, withIntermediate: boolean): KeyPair => pairOf(dir, name, withIntermediate)
  return {
    dir,
    root: { cert: read("root.pem"), certFile: join(dir, "root.pem") },
    intermediate: { cert: intermediate, certFile: join(dir, "intermediate.pem") },
    server: pair("server", true),
    client: pair("client", true),
    otherRoot: { cert: read("otherroot.pem"), certFile: join(dir, "otherroot.pem") },
    otherServer: pair("otherserver", false),
    selfSigned: pair("selfsigned", false),
    expired: pair("expired", true),
    wrongHost: pair("wronghost", true),
    exact: pair("exact", true),
    wildcard: pair("wildcard", true),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true })
      live.delete(dir)
    }
  }
}
