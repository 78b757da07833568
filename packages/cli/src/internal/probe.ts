import * as Tls from "@effect-tls/core/Tls"
import type { TlsConnectionError } from "@effect-tls/core/TlsConnection"
import type { ConnectionInfo, PeerCertificate } from "@effect-tls/core/TlsEngine"
import { TlsTimeoutError } from "@effect-tls/core/TlsError"
import type { UpgradeClientOptions } from "@effect-tls/core/TlsOptions"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import { X509Certificate } from "node:crypto"
import type { CertificateReport, ProbeError, ProbeOptions, ProbeReport, StartTlsProtocol } from "../Probe.js"
import { TlsPlatform } from "../TlsPlatform.js"
import { exitCodes } from "./exitCodes.js"
import { explain } from "./explain.js"
import * as StartTls from "./starttls.js"
import * as Style from "./style.js"

/** @internal */
export const startTlsProtocols: ReadonlyArray<StartTlsProtocol> = StartTls.protocols

const names = (record: Readonly<Record<string, string>>): string =>
  Object.entries(record).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("+") : v}`).join(", ")

const CURVE_BITS: Record<string, number> = {
  prime256v1: 256,
  "P-256": 256,
  secp384r1: 384,
  "P-384": 384,
  secp521r1: 521,
  "P-521": 521
}

const keyOf = (raw: Uint8Array): Pick<CertificateReport, "keyType" | "keyBits" | "curve"> => {
  try {
    const key = new X509Certificate(raw).publicKey
    const type = key.asymmetricKeyType ?? null
    const details = key.asymmetricKeyDetails ?? {}
    const curve = details.namedCurve ?? null
    const bits = details.modulusLength ??
      (curve !== null ? CURVE_BITS[curve] : undefined) ??
      (type === "ed25519" ? 256 : type === "ed448" ? 456 : undefined) ?? null
    return { keyType: type, keyBits: bits, curve }
  } catch {
    return { keyType: null, keyBits: null, curve: null }
  }
}

const DAY = 86_400_000

/** Issued by itself: the same subject and issuer fields. */
const selfSigned = (cert: PeerCertificate): boolean =>
  JSON.stringify(Object.entries(cert.subject).sort()) === JSON.stringify(Object.entries(cert.issuer).sort())

const describe = (cert: PeerCertificate, now: number): CertificateReport => ({
  subject: names(cert.subject),
  issuer: names(cert.issuer),
  subjectAltNames: Option.match(cert.subjectAltName, {
    onNone: () => [],
    onSome: (text) => text.split(/,\s*/).filter((s) => s !== "")
  }),
  notBefore: cert.validFrom.toISOString(),
  notAfter: cert.validTo.toISOString(),
  daysLeft: Math.floor((cert.validTo.getTime() - now) / DAY),
  ...keyOf(cert.raw),
  serialNumber: cert.serialNumber,
  sha256: cert.fingerprint256
})

type Phase = "connect" | "starttls" | "handshake"

interface Attempt {
  readonly timings: ProbeReport["timings"]
  readonly result: Either.Either<
    { readonly info: ConnectionInfo },
    { readonly phase: Phase; readonly error: TlsConnectionError | StartTls.StartTlsError }
  >
}

const elapsed = (start: bigint, end: bigint) => Math.round(Number(end - start) / 10_000) / 100

/** One connection: TCP connect, STARTTLS, handshake; each step timed and bounded. */
const attempt = (options: ProbeOptions, tlsOptions: UpgradeClientOptions) =>
  Effect.gen(function*() {
    const platform = yield* TlsPlatform
    const millis = options.timeoutMillis ?? 10_000
    const timings = { tcpConnectMs: null as number | null, starttlsMs: null as number | null, handshakeMs: null as number | null }
    const done = (result: Attempt["result"]): Attempt => ({ timings: { ...timings }, result })
    const fail = (phase: Phase) => (error: TlsConnectionError | StartTls.StartTlsError) =>
      Effect.succeed(done(Either.left({ phase, error })))

    const t0 = yield* Clock.currentTimeNanos
    const connected = yield* platform.connect(options.host, options.port).pipe(
      Effect.timeoutFail({ duration: Duration.millis(millis), onTimeout: () => new TlsTimeoutError({ phase: "connect", millis }) }),
      Effect.either
    )
    const t1 = yield* Clock.currentTimeNanos
    timings.tcpConnectMs = elapsed(t0, t1)
    if (Either.isLeft(connected)) return yield* fail("connect")(connected.left)
    let transport = connected.right

    if (options.starttls !== undefined) {
      const negotiated = yield* StartTls.negotiate(transport, options.starttls).pipe(
        Effect.timeoutFail({
          duration: Duration.millis(millis),
          onTimeout: () => new TlsTimeoutError({ phase: "read", millis })
        }),
        Effect.either
      )
      const t2 = yield* Clock.currentTimeNanos
      timings.starttlsMs = elapsed(t1, t2)
      if (Either.isLeft(negotiated)) return yield* fail("starttls")(negotiated.left)
      transport = negotiated.right
    }

    const t3 = yield* Clock.currentTimeNanos
    const connection = yield* Effect.either(Tls.upgrade(transport, tlsOptions))
    const t4 = yield* Clock.currentTimeNanos
    timings.handshakeMs = elapsed(t3, t4)
    if (Either.isLeft(connection)) return yield* fail("handshake")(connection.left)
    return done(Either.right({ info: connection.right.info }))
  }).pipe(Effect.scoped)

const exitCodeOf = (phase: Phase, error: TlsConnectionError | StartTls.StartTlsError): number => {
  if (error._tag === "TlsConfigError") return exitCodes.usage
  if (error._tag === "TlsCertificateError") return exitCodes.verification
  switch (phase) {
    case "connect":
      return exitCodes.connect
    case "starttls":
      return exitCodes.starttls
    case "handshake":
      return exitCodes.handshake
  }
}

/** @internal */
export const probe = (options: ProbeOptions): Effect.Effect<ProbeReport, never, Tls.Tls | TlsPlatform> =>
  Effect.gen(function*() {
    const platform = yield* TlsPlatform
    const servername = options.servername ?? options.host
    const alpn = options.alpnProtocols ?? []
    const tlsOptions: UpgradeClientOptions = {
      role: "client",
      servername,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
      minVersion: options.minVersion,
      maxVersion: options.maxVersion,
      alpnProtocols: alpn.length > 0 ? alpn : undefined,
      handshakeTimeout: Duration.millis(options.timeoutMillis ?? 10_000)
    }
    const base = {
      version: 1 as const,
      target: { host: options.host, port: options.port, servername, starttls: options.starttls ?? null, alpnOffered: alpn },
      runtime: { name: platform.name, version: platform.version }
    }
    /** The report with its fields in the schema's order. */
    const ordered = (r: ProbeReport): ProbeReport => ({
      version: r.version,
      target: r.target,
      runtime: r.runtime,
      outcome: r.outcome,
      exitCode: r.exitCode,
      tls: r.tls,
      certificates: r.certificates,
      chainComplete: r.chainComplete,
      verification: r.verification,
      error: r.error,
      timings: r.timings
    })
    const now = yield* Clock.currentTimeMillis
    const success = (info: ConnectionInfo) => {
      const chain = info.peerCertificateChain.length > 0 ? info.peerCertificateChain : Option.toArray(info.peerCertificate)
      const last = chain[chain.length - 1]
      return {
        tls: {
          protocol: info.protocol,
          cipher: info.cipher,
          alpn: Option.getOrNull(info.alpnProtocol),
          resumption: "not supported" as const
        },
        certificates: chain.map((c) => describe(c, now)),
        // It ends at a root: the last certificate is its own issuer.
        chainComplete: last !== undefined && selfSigned(last)
      }
    }

    /** The report of a connection that completed its handshake. */
    const connected = (
      outcome: "verified" | "unverified",
      exitCode: number,
      info: ConnectionInfo,
      verification: ProbeReport["verification"],
      timings: ProbeReport["timings"]
    ) => ordered({ ...base, outcome, exitCode, ...success(info), verification, error: null, timings })

    const first = yield* attempt(options, tlsOptions)
    if (Either.isRight(first.result)) {
      return connected("verified", exitCodes.ok, first.result.right.info, { verified: true, error: null }, first.timings)
    }
    const { error, phase } = first.result.left
    if (error._tag === "TlsCertificateError") {
      // Verification failed: connect again without it to show what the server sent.
      const second = yield* attempt(options, { ...tlsOptions, verify: false }).pipe(
        Logger.withMinimumLogLevel(LogLevel.Error)
      )
      if (Either.isRight(second.result)) {
        const verification = { verified: false, error: explain(error) }
        return connected("unverified", exitCodes.verification, second.result.right.info, verification, second.timings)
      }
    }
    return ordered({
      ...base,
      outcome: "failed",
      exitCode: exitCodeOf(phase, error),
      tls: null,
      certificates: [],
      chainComplete: false,
      verification: error._tag === "TlsCertificateError" ? { verified: false, error: explain(error) } : null,
      error: { ...explain(error), phase: error._tag === "TlsConfigError" ? "options" : phase },
      timings: first.timings
    })
  })

const ms = (value: number | null) => (value === null ? "-" : `${value.toFixed(1)} ms`)

const errorLines = (s: Style.Style, error: ProbeError, indent: string) => [
  `${s.red(`${error.tag}${error.code === null ? "" : ` ${error.code}`}`)}`,
  `${indent}${s.dim("why")}  ${error.explanation}`,
  `${indent}${s.dim("fix")}  ${error.advice}`
]

/** @internal */
export const render = (report: ProbeReport, color: boolean): string => {
  const s = Style.make(color)
  const lines: Array<string> = []
  const row = (label: string, value: string) => lines.push(`  ${s.dim(label.padEnd(12))} ${value}`)
  const t = report.target
  lines.push(
    `${s.bold("effect-tls probe")} ${t.host}:${t.port}` +
      `${t.servername !== t.host ? ` (servername ${t.servername})` : ""}` +
      `${t.starttls === null ? "" : ` via ${t.starttls} STARTTLS`}` +
      s.dim(` on ${report.runtime.name} ${report.runtime.version}`)
  )
  if (report.error !== null) {
    const [head, ...rest] = errorLines(s, report.error, `  ${"".padEnd(12)} `)
    row("failed", `${head} (${report.error.phase})`)
    lines.push(...rest)
  }
  if (report.tls !== null) {
    row("protocol", report.tls.protocol)
    row("cipher", report.tls.cipher)
    row("alpn", report.tls.alpn ?? s.dim(report.target.alpnOffered.length > 0 ? "(none agreed)" : "(none offered)"))
    row("resumption", report.tls.resumption)
  }
  if (report.verification !== null) {
    if (report.verification.verified) row("verified", s.green(`yes (${report.target.servername})`))
    else if (report.verification.error !== null) {
      const [head, ...rest] = errorLines(s, report.verification.error, `  ${"".padEnd(12)} `)
      row("verified", `${s.red("no")}: ${head}`)
      lines.push(...rest)
    }
  }
  row("tcp connect", ms(report.timings.tcpConnectMs))
  if (report.timings.starttlsMs !== null) row("starttls", ms(report.timings.starttlsMs))
  row("handshake", ms(report.timings.handshakeMs))
  report.certificates.forEach((cert, i) => {
    lines.push(`  ${s.bold(`certificate ${i}`)}${i === 0 ? s.dim(" (leaf)") : ""}`)
    row("  subject", cert.subject)
    row("  issuer", cert.issuer)
    row("  names", cert.subjectAltNames.length > 0 ? cert.subjectAltNames.join(", ") : s.dim("(no subjectAltName)"))
    const left = cert.daysLeft < 0
      ? s.red(`expired ${-cert.daysLeft} days ago`)
      : cert.daysLeft < 14
      ? s.yellow(`${cert.daysLeft} days left`)
      : `${cert.daysLeft} days left`
    row("  valid", `${cert.notBefore} to ${cert.notAfter} (${left})`)
    row(
      "  key",
      cert.keyType === null
        ? s.dim("(unknown)")
        : `${cert.keyType.toUpperCase()}${cert.keyBits === null ? "" : ` ${cert.keyBits} bits`}${cert.curve === null ? "" : ` (${cert.curve})`}`
    )
    row("  sha256", cert.sha256)
  })
  if (report.certificates.length > 0 && !report.chainComplete) {
    lines.push(s.dim("  (no issuer of the last certificate is known: the server did not send it, or this runtime's socket does not expose it)"))
  }
  lines.push(`  ${s.dim("exit".padEnd(12))} ${report.exitCode} (${report.outcome})`)
  return lines.join("\n")
}
