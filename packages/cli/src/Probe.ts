/**
 * `effect-tls probe host[:port]`: connect to a TLS server (optionally
 * after STARTTLS) and report what it negotiated, its certificate, whether
 * it verifies and, if not, why and what to do, and how long the TCP
 * connect and the handshake took.
 *
 * The report is also a JSON document (`--json`) whose shape is versioned:
 * `version` is 1, and `schema/probe.v1.json` in this package is its JSON
 * Schema.
 *
 * @since 0.2.0
 */
import type { Tls } from "@effect-tls/core/Tls"
import type { TlsVersion } from "@effect-tls/core/TlsOptions"
import type * as Effect from "effect/Effect"
import * as internalExit from "./internal/exitCodes.js"
import * as internal from "./internal/probe.js"
import type { TlsPlatform } from "./TlsPlatform.js"

/**
 * Protocols `--starttls` speaks before the handshake.
 *
 * @since 0.2.0
 * @category models
 */
export type StartTlsProtocol = "smtp" | "imap" | "pop3" | "ftp" | "postgres"

/**
 * @since 0.2.0
 * @category constants
 */
export const startTlsProtocols: ReadonlyArray<StartTlsProtocol> = internal.startTlsProtocols

/**
 * What to probe, and how.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProbeOptions {
  readonly host: string
  readonly port: number
  /** SNI name and the name verified. Default: `host`. */
  readonly servername?: string | undefined
  readonly alpnProtocols?: ReadonlyArray<string> | undefined
  /** Trusted roots (PEM). Default: the runtime's root store. */
  readonly ca?: string | undefined
  /** A client certificate (PEM, with its intermediates) and its key. */
  readonly cert?: string | undefined
  readonly key?: string | undefined
  readonly minVersion?: TlsVersion | undefined
  readonly maxVersion?: TlsVersion | undefined
  readonly starttls?: StartTlsProtocol | undefined
  /** Bound on each of the TCP connect, STARTTLS and the handshake. Default 10 seconds. */
  readonly timeoutMillis?: number | undefined
}

/**
 * A certificate as `probe` reports it.
 *
 * @since 0.2.0
 * @category models
 */
export interface CertificateReport {
  /** `"CN=localhost, O=effect-tls"`. */
  readonly subject: string
  readonly issuer: string
  /** `["DNS:localhost", "IP Address:127.0.0.1"]`. */
  readonly subjectAltNames: ReadonlyArray<string>
  /** ISO 8601. */
  readonly notBefore: string
  readonly notAfter: string
  /** Whole days until `notAfter` (negative once expired). */
  readonly daysLeft: number
  /** `"ec"`, `"rsa"`, `"ed25519"`, ...; null when the runtime cannot tell. */
  readonly keyType: string | null
  readonly keyBits: number | null
  /** The named curve of an EC key (`"prime256v1"`). */
  readonly curve: string | null
  readonly serialNumber: string
  /** SHA-256 fingerprint, colon-separated hex. */
  readonly sha256: string
}

/**
 * A failure, as `probe` reports it: our typed error's `_tag`, its code
 * (verify code, alert name, ...), the error's message, a one-line
 * explanation and what to do.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProbeError {
  readonly tag: string
  readonly code: string | null
  readonly message: string
  readonly explanation: string
  readonly advice: string
}

/**
 * The report, version 1 (see `schema/probe.v1.json`).
 *
 * @since 0.2.0
 * @category models
 */
export interface ProbeReport {
  readonly version: 1
  readonly target: {
    readonly host: string
    readonly port: number
    readonly servername: string
    readonly starttls: StartTlsProtocol | null
    readonly alpnOffered: ReadonlyArray<string>
  }
  readonly runtime: { readonly name: "node" | "bun"; readonly version: string }
  /**
   * `verified`: the handshake completed and the chain and name verified.
   * `unverified`: they did not (see `verification.error`); the rest of the
   * report comes from a second connection made without verification.
   * `failed`: no handshake completed (see `error`).
   */
  readonly outcome: "verified" | "unverified" | "failed"
  /** The process exit code `effect-tls probe` ends with (see `exitCodes`). */
  readonly exitCode: number
  readonly tls: {
    readonly protocol: string
    readonly cipher: string
    readonly alpn: string | null
    /** Until effect-tls has a session cache: `"not supported"`. */
    readonly resumption: "not supported"
  } | null
  /**
   * The server's certificates, leaf first. Today the leaf only: the
   * library's `ConnectionInfo` exposes the peer's certificate, not its chain.
   */
  readonly certificates: ReadonlyArray<CertificateReport>
  /** Whether `certificates` holds the whole chain the server sent. */
  readonly chainComplete: boolean
  readonly verification: {
    readonly verified: boolean
    readonly error: ProbeError | null
  } | null
  /** Why no handshake completed, and where (`phase`). */
  readonly error: (ProbeError & { readonly phase: "connect" | "starttls" | "handshake" | "options" }) | null
  /** Milliseconds; null for a step that did not run. */
  readonly timings: {
    readonly tcpConnectMs: number | null
    readonly starttlsMs: number | null
    readonly handshakeMs: number | null
  }
}

/**
 * Exit codes of `effect-tls` (all subcommands).
 *
 * @since 0.2.0
 * @category constants
 */
export const exitCodes: typeof internalExit.exitCodes = internalExit.exitCodes

/**
 * Probe a server. Never fails: every failure is part of the report.
 *
 * @since 0.2.0
 * @category commands
 */
export const probe: (options: ProbeOptions) => Effect.Effect<ProbeReport, never, Tls | TlsPlatform> = internal.probe

/**
 * The report as terminal text, coloured with ANSI escapes when `color`.
 *
 * @since 0.2.0
 * @category rendering
 */
export const render: (report: ProbeReport, color: boolean) => string = internal.render
