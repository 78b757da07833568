/**
 * Server names: the one place where a host name from the wire or from
 * options is checked and normalised (a server's SNI, `SniResolver`
 * patterns), and the one rule every runtime applies on top of its TLS
 * library's host-name check.
 *
 * @since 0.3.0
 */
import type * as Option from "effect/Option"
import * as internal from "./internal/serverName.js"

/**
 * A server name as effect-tls compares it: lower-cased, without the one
 * trailing dot a fully-qualified name may carry, and a DNS host name
 * (RFC 6066: labels of 1 to 63 letters, digits, `_` or `-`, 253
 * characters at most). `None` for anything else (an empty label, a NUL,
 * a slash, an IP address literal is still a name of digits and dots), so
 * a name that passes can be used as a map key or a file name.
 *
 * @since 0.3.0
 * @category normalising
 */
export const normalize: (name: string) => Option.Option<string> = internal.normalize

/**
 * Like `normalize`, but also accepts a one-label wildcard (`*.example.com`).
 *
 * @since 0.3.0
 * @category normalising
 */
export const normalizePattern: (pattern: string) => Option.Option<string> = internal.normalizePattern

/**
 * Whether `pattern` (a name, or a one-label wildcard) covers `name`:
 * `*.example.com` matches `a.example.com`, not `a.b.example.com` nor
 * `example.com`. Case and one trailing dot are ignored.
 *
 * @since 0.3.0
 * @category matching
 */
export const matches: (pattern: string, name: string) => boolean = internal.matches

/**
 * The rule a client applies to a server certificate before the TLS
 * library's own host-name check: the certificate must carry a
 * subjectAltName of the host's kind (a DNS name for a host name, an IP
 * address for an IP), whatever its subject CN says. RFC 6125 and the
 * CA/Browser Forum retired the CN fallback; Go (since 1.15), rustls and
 * browsers refuse such certificates, while node:tls still falls back to
 * the CN when a certificate has no DNS subjectAltName. `subjectAltName` is
 * the extension as OpenSSL prints it (`DNS:a.example, IP Address:127.0.0.1`),
 * or undefined when there is none. `Some(reason)` when refused; `None`
 * leaves the matching itself to the TLS library.
 *
 * @since 0.3.0
 * @category verification
 */
export const identityRefusal: (host: string, subjectAltName: string | null | undefined) => Option.Option<string> =
  internal.identityRefusal
