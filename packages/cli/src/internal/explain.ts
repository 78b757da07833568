import type { TlsConnectionError } from "@effect-tls/core/TlsConnection"
import type { StartTlsError } from "./starttls.js"

/** @internal */
export interface Explained {
  readonly tag: string
  readonly code: string | null
  readonly message: string
  readonly explanation: string
  readonly advice: string
}

const certificateCodes: Record<string, readonly [explanation: string, advice: string]> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: [
    "the server's certificate is self-signed and not in the trusted roots",
    "if you trust it, pass that certificate (or its CA) with --ca"
  ],
  SELF_SIGNED_CERT_IN_CHAIN: [
    "the chain ends in a root that is not trusted",
    "pass the root CA with --ca"
  ],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: [
    "the certificate's issuer is not among the trusted roots",
    "pass the issuing CA with --ca, or check that the server sends its intermediates"
  ],
  UNABLE_TO_GET_ISSUER_CERT: [
    "an issuer of the chain could not be found",
    "make the server send its intermediate certificates, or pass them with --ca"
  ],
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: [
    "the leaf certificate cannot be linked to a trusted root",
    "make the server send its intermediates, or pass the issuing CA with --ca"
  ],
  CERT_HAS_EXPIRED: ["a certificate of the chain has expired", "renew the certificate on the server"],
  CERT_NOT_YET_VALID: [
    "a certificate of the chain is not valid yet",
    "check the clocks of both machines, or wait for its start date"
  ],
  ERR_TLS_CERT_ALTNAME_INVALID: [
    "the certificate does not cover the name that was checked",
    "use --servername with a name the certificate lists, or issue a certificate for this name"
  ],
  CERT_REVOKED: ["a certificate of the chain was revoked", "replace the revoked certificate"],
  CERT_SIGNATURE_FAILURE: ["a signature in the chain does not verify", "the chain is broken: reissue the certificate"],
  INVALID_CA: ["a CA in the chain may not issue certificates", "fix the chain the server sends"]
}

const alerts: Record<string, readonly [explanation: string, advice: string]> = {
  handshake_failure: [
    "the peers found no common parameters (cipher suites, groups, signature algorithms)",
    "compare the versions and ciphers both sides allow"
  ],
  protocol_version: [
    "the peers share no TLS version",
    "adjust --min-version / --max-version (effect-tls speaks TLS 1.2 and 1.3 only)"
  ],
  no_application_protocol: [
    "the server speaks none of the ALPN protocols offered",
    "offer another list with --alpn, or none"
  ],
  unrecognized_name: [
    "the server does not serve the name sent as SNI",
    "send a name it serves with --servername"
  ],
  certificate_required: [
    "the server requires a client certificate",
    "pass one with --cert and --key"
  ],
  bad_certificate: [
    "the peer rejected a certificate",
    "if the server requires client certificates, pass one it trusts with --cert and --key"
  ],
  unknown_ca: [
    "the peer does not trust the CA of a certificate it was sent",
    "use a client certificate issued by a CA the server trusts"
  ],
  decrypt_error: ["a handshake signature or the Finished check failed", "check the key matches the certificate"],
  internal_error: ["the peer failed internally during the handshake", "look at the server's logs"],
  access_denied: ["the peer refused access", "check the client certificate, or the server's access rules"]
}

const byTag = (error: TlsConnectionError | StartTlsError): readonly [string | null, string, string] => {
  switch (error._tag) {
    case "TlsCertificateError": {
      const known = certificateCodes[error.code]
      return [error.code, ...(known ?? ["the certificate chain did not verify", "check the chain and the trusted roots (--ca)"])]
    }
    case "TlsAlertError": {
      const known = alerts[error.alert]
      const [explanation, advice] = known ?? ["the handshake was aborted with this alert", "look at the other side's logs"]
      return [
        error.alert,
        `${error.direction === "received" ? "the server sent the alert" : "we sent the alert"}: ${explanation}`,
        advice
      ]
    }
    case "TlsTransportError":
      return [
        error.reason,
        error.reason === "ConnectRefused"
          ? "nothing accepts connections at this address"
          : error.reason === "HostNotFound"
          ? "the host name does not resolve"
          : error.reason === "Reset"
          ? "the server reset the connection"
          : "the TCP connection failed",
        "check the host, the port and any firewall in between"
      ]
    case "TlsTimeoutError":
      return [
        error.phase,
        `no answer within ${error.millis} ms (${error.phase})`,
        error.phase === "handshake"
          ? "the port may not speak TLS right away: try --starttls, or a longer --timeout"
          : "check that the host is reachable, or raise --timeout"
      ]
    case "TlsUnexpectedEof":
      return [
        error.phase,
        "the server closed the connection without a TLS close",
        "the port may not speak TLS (try --starttls), or the server refused the handshake"
      ]
    case "TlsProtocolError":
      return [
        error.code,
        /WRONG_VERSION_NUMBER|wrong version number|packet length too long/i.test(`${error.code} ${error.reason}`)
          ? "the server did not answer with TLS"
          : "the TLS library reported an error",
        /WRONG_VERSION_NUMBER|wrong version number|packet length too long/i.test(`${error.code} ${error.reason}`)
          ? "the port may speak plain text first: try --starttls"
          : "see the message; compare versions and ciphers of both sides"
      ]
    case "TlsConfigError":
      return [error.option, "an option was rejected before connecting", "fix the option named"]
    case "TlsClosedError":
      return [null, "the connection was already closed", "try again"]
    case "TlsWantRead":
    case "TlsWantWrite":
      return [error.operation, "the handshake made no progress before the retry policy gave up", "raise --timeout"]
    case "StartTlsError":
      return [error.protocol, `the server did not start TLS: ${error.reply}`, "check that the server offers STARTTLS on this port"]
  }
}

/** @internal */
export const explain = (error: TlsConnectionError | StartTlsError): Explained => {
  const [code, explanation, advice] = byTag(error)
  return { tag: error._tag, code, message: error.message, explanation, advice }
}
