/** @internal */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as RetryPolicy from "../RetryPolicy.js"
import { TlsConfigError } from "../TlsError.js"
import type * as O from "../TlsOptions.js"
import type { TicketKeysService } from "../TicketKeys.js"
import * as ticketKeys from "./ticketKeys.js"

const DEFAULT_HANDSHAKE_TIMEOUT = Duration.seconds(30)
const DEFAULT_CONNECT_TIMEOUT = Duration.seconds(30)
const DEFAULT_CLOSE_GRACE = Duration.seconds(5)
const DEFAULT_IDLE_TIMEOUT = Duration.minutes(5)
const DEFAULT_MAX_CONNECTIONS = 4096
const DEFAULT_MAX_HANDSHAKES = 256
const VERSIONS: ReadonlyArray<O.TlsVersion> = ["TLSv1.2", "TLSv1.3"]
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g
const BASE64_BODY = /^[A-Za-z0-9+/=\s]*$/
const PEM_HEADER = /^[A-Za-z-]+:.*$/m

class Invalid {
  constructor(readonly option: string, readonly reason: string, readonly cause?: unknown) {}
}

const fail = (option: string, reason: string, cause?: unknown): never => {
  throw new Invalid(option, reason, cause)
}

/** @internal */
export const pemToString = (pem: O.Pem): string => {
  if (typeof pem === "string") return pem
  let out = ""
  for (let i = 0; i < pem.length; i += 8192) {
    out += String.fromCharCode(...pem.subarray(i, i + 8192))
  }
  return out
}

interface PemBlock {
  readonly label: string
  readonly text: string
}

const pemBlocks = (option: string, pem: O.Pem): Array<PemBlock> => {
  if (typeof pem !== "string" && !(pem instanceof Uint8Array)) {
    return fail(option, "expected PEM text as a string or Uint8Array")
  }
  const text = pemToString(pem)
  const blocks: Array<PemBlock> = []
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1]!
    const body = match[2]!.replace(PEM_HEADER, "")
    if (!BASE64_BODY.test(body) || body.replace(/\s/g, "").length === 0) {
      fail(option, `the ${label} block is not valid base64`)
    }
    blocks.push({ label, text: match[0] })
  }
  if (blocks.length === 0) fail(option, "no PEM block found")
  return blocks
}

const certificates = (option: string, input: O.Pem | ReadonlyArray<O.Pem>): Array<string> => {
  const list = Array.isArray(input) ? (input as ReadonlyArray<O.Pem>) : [input as O.Pem]
  if (list.length === 0) fail(option, "an empty list of certificates")
  const out: Array<string> = []
  list.forEach((pem, i) => {
    const name = list.length === 1 && !Array.isArray(input) ? option : `${option}[${i}]`
    for (const block of pemBlocks(name, pem)) {
      if (block.label !== "CERTIFICATE" && block.label !== "TRUSTED CERTIFICATE") {
        fail(name, `expected CERTIFICATE blocks, found ${block.label}`)
      }
      out.push(block.text)
    }
  })
  return out
}

const crls = (input: O.Pem | ReadonlyArray<O.Pem>): Array<string> => {
  const list = Array.isArray(input) ? (input as ReadonlyArray<O.Pem>) : [input as O.Pem]
  if (list.length === 0) fail("crl", "an empty list of CRLs")
  const out: Array<string> = []
  list.forEach((pem, i) => {
    const name = list.length === 1 && !Array.isArray(input) ? "crl" : `crl[${i}]`
    for (const block of pemBlocks(name, pem)) {
      if (block.label !== "X509 CRL") fail(name, `expected X509 CRL blocks, found ${block.label}`)
      out.push(block.text)
    }
  })
  return out
}

const privateKey = (option: string, input: O.PrivateKey): Redacted.Redacted<string> => {
  const pem = Redacted.isRedacted(input) ? Redacted.value(input) : input
  const blocks = pemBlocks(option, pem)
  if (blocks.length !== 1) fail(option, `expected exactly one private key block, found ${blocks.length}`)
  const label = blocks[0]!.label
  if (label === "ENCRYPTED PRIVATE KEY") fail(option, "encrypted private keys are not supported; decrypt it first")
  if (!label.endsWith("PRIVATE KEY")) fail(option, `expected a PRIVATE KEY block, found ${label}`)
  return Redacted.make(blocks[0]!.text)
}

const version = (option: string, input: unknown, fallback: O.TlsVersion): O.TlsVersion => {
  if (input === undefined) return fallback
  if (typeof input === "string" && (VERSIONS as ReadonlyArray<string>).includes(input)) return input as O.TlsVersion
  return fail(option, `unknown or unsupported TLS version ${JSON.stringify(input)} (expected TLSv1.2 or TLSv1.3)`)
}

const alpn = (input: ReadonlyArray<string> | undefined): ReadonlyArray<string> => {
  if (input === undefined) return []
  if (!Array.isArray(input)) return fail("alpnProtocols", "expected an array of protocol names")
  const seen = new Set<string>()
  input.forEach((p, i) => {
    if (typeof p !== "string" || p.length === 0 || p.length > 255 || !/^[\x21-\x7e]+$/.test(p)) {
      fail(`alpnProtocols[${i}]`, "a protocol name is 1 to 255 printable ASCII characters")
    }
    if (seen.has(p)) fail(`alpnProtocols[${i}]`, `duplicate protocol ${p}`)
    seen.add(p)
  })
  return [...input]
}

const duration = (option: string, input: Duration.DurationInput | undefined, fallback: Duration.Duration) => {
  if (input === undefined) return fallback
  const d = Duration.decodeUnknown(input)
  if (d._tag === "None" || !Duration.greaterThan(d.value, Duration.zero)) {
    return fail(option, "expected a positive duration")
  }
  return d.value
}

const isIPv4 = (s: string) =>
  /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(s) && s.split(".").every((p) => Number(p) <= 255)

/** @internal */
export const isIpAddress = (s: string): boolean => isIPv4(s) || (s.includes(":") && /^[0-9a-fA-F:.]+$/.test(s))

const hostname = (option: string, input: unknown): string => {
  if (typeof input !== "string" || input.length === 0 || input.length > 253 || /[\s/]/.test(input)) {
    return fail(option, "expected a host name or IP address")
  }
  return input
}

const port = (input: unknown, allowZero: boolean): number => {
  if (typeof input !== "number" || !Number.isInteger(input) || input < (allowZero ? 0 : 1) || input > 65535) {
    return fail("port", `expected an integer port from ${allowZero ? 0 : 1} to 65535`)
  }
  return input
}

const common = (options: O.CommonOptions, role: "client" | "server"): O.ResolvedCommon => {
  if (typeof options !== "object" || options === null) return fail("options", "expected an object")
  const minVersion = version("minVersion", options.minVersion, "TLSv1.2")
  const maxVersion = version("maxVersion", options.maxVersion, "TLSv1.3")
  if (VERSIONS.indexOf(minVersion) > VERSIONS.indexOf(maxVersion)) {
    fail("minVersion", `${minVersion} is above maxVersion ${maxVersion}`)
  }
  const certChain = options.cert === undefined ? undefined : certificates("cert", options.cert)
  const key = options.key === undefined ? undefined : privateKey("key", options.key)
  if (certChain !== undefined && key === undefined) fail("key", "cert is given without its private key")
  if (key !== undefined && certChain === undefined) fail("cert", "key is given without its certificate")
  if (role === "server" && certChain === undefined) fail("cert", "a server needs a certificate and its key")
  if (options.ciphers !== undefined && (typeof options.ciphers !== "string" || options.ciphers.trim() === "")) {
    fail("ciphers", "expected a non-empty OpenSSL cipher list")
  }
  if (options.allowTruncation !== undefined && typeof options.allowTruncation !== "boolean") {
    fail("allowTruncation", "expected a boolean")
  }
  if (options.keylog !== undefined && typeof options.keylog !== "function") {
    fail("keylog", "expected a function that takes one key log line")
  }
  return {
    ca: options.ca === undefined ? undefined : certificates("ca", options.ca),
    crl: options.crl === undefined ? undefined : crls(options.crl),
    certChain,
    key,
    minVersion,
    maxVersion,
    alpnProtocols: alpn(options.alpnProtocols),
    ciphers: options.ciphers,
    handshakeTimeout: duration("handshakeTimeout", options.handshakeTimeout, DEFAULT_HANDSHAKE_TIMEOUT),
    retryPolicy: options.retryPolicy ?? RetryPolicy.defaultPolicy,
    closeGrace: duration("closeGrace", options.closeGrace, DEFAULT_CLOSE_GRACE),
    allowTruncation: options.allowTruncation === true,
    keylog: options.keylog
  }
}

const count = (option: string, input: unknown, fallback: number): number => {
  if (input === undefined) return fallback
  if (typeof input !== "number" || !Number.isInteger(input) || input < 1) return fail(option, "expected a positive integer")
  return input
}

const clientIdentity = (host: string | undefined, servername: unknown, verify: unknown) => {
  if (verify !== undefined && typeof verify !== "boolean") fail("verify", "expected a boolean")
  const name = servername === undefined ? host : hostname("servername", servername)
  if (name === undefined && verify !== false) {
    fail("servername", "a client that verifies the server needs the name to verify (or verify: false)")
  }
  return {
    sni: name === undefined || isIpAddress(name) ? undefined : name,
    verifyHost: name ?? "",
    verify: verify !== false
  }
}

/** The `ticketKeys` option: a service as it is, key bytes as a fixed service. */
const ticketKeysOption = (input: unknown): TicketKeysService | undefined => {
  if (input === undefined || ticketKeys.isService(input)) return input
  const reason = ticketKeys.keyProblem(input)
  return reason === undefined ? ticketKeys.fixed(input as Redacted.Redacted<Uint8Array>) : fail("ticketKeys", reason)
}

const run = <A>(f: () => A): Effect.Effect<A, TlsConfigError> =>
  Effect.suspend(() => {
    try {
      return Effect.succeed(f())
    } catch (e) {
      if (e instanceof Invalid) {
        return Effect.fail(new TlsConfigError({ option: e.option, reason: e.reason, cause: e.cause }))
      }
      return Effect.fail(new TlsConfigError({ option: "options", reason: "could not be read", cause: e }))
    }
  })

/** @internal */
export const decodeClient = (options: O.ClientOptions) =>
  run((): O.ResolvedClientConnect => {
    const base = common(options, "client")
    const host = hostname("host", options.host)
    return {
      ...base,
      role: "client",
      ...clientIdentity(host, options.servername, options.verify),
      host,
      port: port(options.port, false),
      connectTimeout: duration("connectTimeout", options.connectTimeout, DEFAULT_CONNECT_TIMEOUT)
    }
  })

/** What every server role decodes: the common options, client certificates and ticket keys. */
const server = (options: O.ServerOptions | O.UpgradeServerOptions): O.ResolvedServer => {
  const base = common(options, "server")
  if (options.requestCert !== undefined && typeof options.requestCert !== "boolean") {
    fail("requestCert", "expected a boolean")
  }
  if (options.requestCert === true && base.ca === undefined) {
    fail("ca", "requestCert needs the CA that signs client certificates")
  }
  return {
    ...base,
    certChain: base.certChain!,
    key: base.key!,
    role: "server",
    requestCert: options.requestCert === true,
    ticketKeys: ticketKeysOption(options.ticketKeys)
  }
}

/** @internal */
export const decodeServer = (options: O.ServerOptions) =>
  run((): O.ResolvedServerListen => {
    const base = server(options)
    if (options.backlog !== undefined && (!Number.isInteger(options.backlog) || options.backlog < 1)) {
      fail("backlog", "expected a positive integer")
    }
    if (options.reusePort !== undefined && typeof options.reusePort !== "boolean") {
      fail("reusePort", "expected a boolean")
    }
    return {
      ...base,
      host: options.host === undefined ? "0.0.0.0" : hostname("host", options.host),
      port: options.port === undefined ? 0 : port(options.port, true),
      backlog: options.backlog,
      maxConnections: count("maxConnections", options.maxConnections, DEFAULT_MAX_CONNECTIONS),
      maxHandshakes: count("maxHandshakes", options.maxHandshakes, DEFAULT_MAX_HANDSHAKES),
      idleTimeout: duration("idleTimeout", options.idleTimeout, DEFAULT_IDLE_TIMEOUT),
      reusePort: options.reusePort === true
    }
  })

/** @internal */
export const decodeUpgrade = (options: O.UpgradeOptions) =>
  run((): O.ResolvedClient | O.ResolvedServer => {
    if (options?.role === "client") {
      return { ...common(options, "client"), role: "client", ...clientIdentity(undefined, options.servername, options.verify) }
    }
    if (options?.role === "server") return server(options)
    return fail("role", `expected "client" or "server"`)
  })

const relabel = (label: string) => (e: TlsConfigError) =>
  new TlsConfigError({ option: `${label}.${e.option}`, reason: e.reason, cause: e.cause })

const contextOptions = (context: O.ServerContext, server: O.ResolvedServer | undefined): O.UpgradeServerOptions => {
  if (typeof context !== "object" || context === null) return fail("options", "expected an object with cert and key")
  if (context.cert === undefined) fail("cert", "a server context needs a certificate and its key")
  if (context.requestCert !== undefined && typeof context.requestCert !== "boolean") {
    fail("requestCert", "expected a boolean")
  }
  return {
    role: "server",
    cert: context.cert,
    key: context.key,
    ca: context.ca ?? server?.ca,
    crl: server?.crl,
    requestCert: context.requestCert ?? server?.requestCert,
    ciphers: context.ciphers ?? server?.ciphers,
    minVersion: context.minVersion ?? server?.minVersion,
    maxVersion: context.maxVersion ?? server?.maxVersion,
    alpnProtocols: context.alpnProtocols ?? server?.alpnProtocols,
    handshakeTimeout: server?.handshakeTimeout,
    retryPolicy: server?.retryPolicy,
    closeGrace: server?.closeGrace,
    allowTruncation: server?.allowTruncation,
    keylog: server?.keylog
  }
}

/** @internal */
export const validateContext = (context: O.ServerContext, label: string): Effect.Effect<void, TlsConfigError> =>
  Effect.asVoid(
    Effect.flatMap(run(() => contextOptions(context, undefined)), decodeUpgrade).pipe(
      Effect.mapError(relabel(label))
    )
  )

/** @internal */
export const decodeContext = (
  server: O.ResolvedServer,
  context: O.ServerContext,
  label: string
): Effect.Effect<O.ResolvedServer, TlsConfigError> =>
  Effect.flatMap(run(() => contextOptions(context, server)), decodeUpgrade).pipe(
    Effect.map((resolved) => resolved as O.ResolvedServer),
    Effect.mapError(relabel(label))
  )

/** @internal */
export const validateAlpn = (protocols: ReadonlyArray<string>, onMismatch: unknown): Effect.Effect<void, TlsConfigError> =>
  run(() => {
    if (alpn(protocols).length === 0) fail("alpnProtocols", "expected at least one protocol name")
    if (onMismatch !== undefined && onMismatch !== "alert" && onMismatch !== "continue") {
      fail("onMismatch", `expected "alert" or "continue"`)
    }
  })
