/** @internal */
import {
  TlsAlertError,
  TlsCertificateError,
  type TlsError,
  TlsProtocolError,
  TlsTransportError,
  TlsUnexpectedEof
} from "@effect-tls/core/TlsError"

/** The X.509 verification codes node:tls reports (OpenSSL's, by name). */
const VERIFY_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "ERROR_IN_CERT_NOT_BEFORE_FIELD",
  "ERROR_IN_CERT_NOT_AFTER_FIELD",
  "ERROR_IN_CRL_LAST_UPDATE_FIELD",
  "ERROR_IN_CRL_NEXT_UPDATE_FIELD",
  "OUT_OF_MEM",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/**
 * Library reason codes that mean this side sent a fatal alert, with the
 * alert's name (RFC 8446 section 6.2).
 */
const SENT_ALERTS: Record<string, string> = {
  ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: "certificate_required",
  ERR_SSL_NO_SHARED_CIPHER: "handshake_failure",
  ERR_SSL_NO_SUITABLE_KEY_SHARE: "handshake_failure",
  ERR_SSL_NO_APPLICATION_PROTOCOL: "no_application_protocol",
  ERR_SSL_UNSUPPORTED_PROTOCOL: "protocol_version",
  ERR_SSL_NO_PROTOCOLS_AVAILABLE: "protocol_version",
  ERR_SSL_WRONG_VERSION_NUMBER: "protocol_version",
  ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC: "bad_record_mac",
  ERR_SSL_BAD_RECORD_MAC: "bad_record_mac",
  // OpenSSL 3 reports a TLS 1.2 AEAD record that does not decrypt by the
  // provider's reason, and sends bad_record_mac (seen with openssl -msg).
  ERR_SSL_CIPHER_OPERATION_FAILED: "bad_record_mac",
  // A TLS 1.2 record too short to hold its nonce and tag: OpenSSL 3.0 sends internal_error.
  ERR_SSL_INVALID_AAD: "internal_error",
  // A TLS 1.3 record of a type other than application_data after the handshake.
  ERR_SSL_BAD_RECORD_TYPE: "unexpected_message",
  ERR_SSL_RECORD_LAYER_FAILURE: "decode_error",
  ERR_SSL_LENGTH_MISMATCH: "decode_error",
  ERR_SSL_BAD_PACKET_LENGTH: "decode_error",
  ERR_SSL_UNEXPECTED_MESSAGE: "unexpected_message",
  ERR_SSL_UNEXPECTED_RECORD: "unexpected_message",
  ERR_SSL_MISSING_EXTENSION: "missing_extension",
  ERR_SSL_CALLBACK_FAILED: "handshake_failure",
  ERR_SSL_CERTIFICATE_VERIFY_FAILED: "bad_certificate"
}

/**
 * Codes for which OpenSSL sends an alert only if the failing record was not
 * the first the peer sent: bytes that do not look like TLS at all (a
 * random answer, an HTTP response) get no alert (`SSL_AD_NO_ALERT`). For
 * these the engine says whether anything was written after the input that
 * failed, and the error says what happened on the wire.
 */
const ALERT_IF_WRITTEN = new Set(["ERR_SSL_WRONG_VERSION_NUMBER", "ERR_SSL_HTTP_REQUEST", "ERR_SSL_HTTPS_PROXY_REQUEST"])

/** How BoringSSL (inside Bun) names the function of every error. */
const BORINGSSL = /:OPENSSL_internal:/

const TRANSPORT_REASONS: Record<string, TlsTransportError["reason"]> = {
  ECONNRESET: "Reset",
  EPIPE: "Reset",
  ECONNREFUSED: "ConnectRefused",
  ENOTFOUND: "HostNotFound",
  EAI_AGAIN: "HostNotFound",
  ETIMEDOUT: "ConnectFailed",
  EHOSTUNREACH: "ConnectFailed",
  ENETUNREACH: "ConnectFailed",
  EADDRNOTAVAIL: "ConnectFailed"
}

/** @internal */
export const errorCode = (e: unknown): string | undefined => {
  const code = (e as { code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

/**
 * Translate an error emitted by node:tls into the typed error of the table.
 * @internal
 */
export const fromTlsError = (
  e: unknown,
  context: {
    readonly host: string
    readonly inputEnded: boolean
    readonly phase: "handshake" | "read"
    readonly protocol: string | null | undefined
    /** Whether node:tls wrote ciphertext after the input that failed (an alert, if it is failing). */
    readonly wroteAfterInput?: boolean
  }
): TlsError => {
  const code = errorCode(e) ?? "ERR_TLS"
  const message = e instanceof Error ? e.message : String(e)
  if (VERIFY_CODES.has(code)) return new TlsCertificateError({ code, host: context.host, cause: e })
  // A received alert: OpenSSL 3.0 says `sslv3 alert handshake failure`,
  // `tlsv13 alert certificate required`, `tlsv1 unrecognized name`; OpenSSL
  // 3.5 says `ssl/tls alert handshake failure`. node:tls turns those into
  // codes such as ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE.
  const alert = /^ERR_SSL_(?:SSLV3|TLSV1|TLSV13|SSL\/TLS)_ALERT_([A-Z0-9_]+)$/.exec(code) ??
    /^ERR_SSL_TLSV1_(UNRECOGNIZED_NAME)$/.exec(code)
  if (alert !== null) {
    return new TlsAlertError({ alert: alert[1]!.toLowerCase(), direction: "received", cause: e })
  }
  // TLS 1.2 has no certificate_required alert: OpenSSL sends handshake_failure.
  const sent = code === "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE" && context.protocol !== "TLSv1.3"
    ? "handshake_failure"
    : code === "ERR_SSL_BAD_PACKET_LENGTH" && BORINGSSL.test(message)
    // BoringSSL (Bun) names a record too short for its cipher so, and sends bad_record_mac.
    ? "bad_record_mac"
    : SENT_ALERTS[code]
  if (sent !== undefined && !(ALERT_IF_WRITTEN.has(code) && context.wroteAfterInput === false)) {
    return new TlsAlertError({ alert: sent, direction: "sent", cause: e })
  }
  if (code === "ECONNRESET" && context.inputEnded) return new TlsUnexpectedEof({ phase: context.phase })
  const transport = TRANSPORT_REASONS[code]
  if (transport !== undefined) return new TlsTransportError({ reason: transport, code, cause: e })
  return new TlsProtocolError({ code, reason: message, cause: e })
}
