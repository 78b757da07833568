/**
 * The PROXY protocol, version 2 (binary), as `effect-tls serve` sends it to
 * a backend: a header before the client's first byte that says who the
 * client is, since the backend's own peer is the terminator.
 *
 * @since 0.2.0
 */
import * as internal from "./internal/proxyProtocol.js"

/**
 * @since 0.2.0
 * @category models
 */
export interface Endpoint {
  /** An IPv4 or IPv6 address (not a host name). */
  readonly host: string
  readonly port: number
}

/**
 * @since 0.2.0
 * @category models
 */
export interface Tlvs {
  /** `PP2_TYPE_ALPN`: the negotiated ALPN protocol. */
  readonly alpn?: string | undefined
  /** `PP2_TYPE_AUTHORITY`: the server name the client asked for (SNI). */
  readonly authority?: string | undefined
}

/**
 * A version 2 header with the `PROXY` command: `TCP4` or `TCP6` addresses
 * (source: the client; destination: where it connected), then the TLVs
 * given. It has the `LOCAL` command and no addresses when either address is
 * unknown, not an IP address, or the two are of different families (except
 * a dual-stack listener's `::` with an IPv4 client, sent as `0.0.0.0`).
 *
 * @since 0.2.0
 * @category encoding
 */
export const encodeV2: (
  source: Endpoint | undefined,
  destination: Endpoint | undefined,
  tlvs?: Tlvs
) => Uint8Array = internal.encodeV2

/**
 * Split a transport's `remoteAddress` (`"127.0.0.1:5000"`, `"::1:5000"`)
 * into an address and a port; an IPv4-mapped IPv6 address becomes IPv4.
 *
 * @since 0.2.0
 * @category parsing
 */
export const splitAddress: (address: string | undefined) => Endpoint | undefined = internal.splitAddress
