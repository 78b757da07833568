/** @internal */
export const exitCodes = {
  /** Verified handshake (probe), clean stop (serve, demo). */
  ok: 0,
  /** An unexpected failure. */
  internal: 1,
  /** Bad arguments or options (including unreadable files and rejected PEM). */
  usage: 2,
  /** The handshake completed but the certificate did not verify. */
  verification: 3,
  /** The TLS handshake failed (alert, protocol error, timeout, EOF). */
  handshake: 4,
  /** The TCP connection failed (refused, unreachable, timed out). */
  connect: 5,
  /** The STARTTLS exchange failed. */
  starttls: 6
} as const
