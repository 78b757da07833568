import { isIPv4, isIPv6 } from "node:net"

const SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]

/** TLV types of PROXY protocol v2 (section 2.2.1 of the specification). */
const PP2_TYPE_ALPN = 0x01
const PP2_TYPE_AUTHORITY = 0x02

/**
 * `"127.0.0.1:5000"`, `"::1:5000"`, `"::ffff:127.0.0.1:5000"` to host and
 * port (an IPv6 zone, `%eth0`, is dropped).
 *
 * @internal
 */
export const splitAddress = (address: string | undefined): { host: string; port: number } | undefined => {
  if (address === undefined) return undefined
  const colon = address.lastIndexOf(":")
  if (colon <= 0) return undefined
  let host = address.slice(0, colon).replace(/^\[|\]$/g, "").replace(/%.*$/, "")
  const port = Number(address.slice(colon + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  if (mapped !== null) host = mapped[1]!
  return { host, port }
}

const v4 = (host: string): Array<number> => host.split(".").map(Number)

const v6 = (host: string): Array<number> => {
  // Expand "::" and an embedded IPv4 tail, then write 8 groups of 16 bits.
  let text = host
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (tail !== null) {
    const [a, b, c, d] = v4(tail[1]!)
    text = text.slice(0, -tail[1]!.length) + `${((a! << 8) | b!).toString(16)}:${((c! << 8) | d!).toString(16)}`
  }
  const [head, rest] = text.split("::") as [string, string | undefined]
  const left = head === "" ? [] : head.split(":")
  const right = rest === undefined || rest === "" ? [] : rest.split(":")
  const groups = rest === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right]
  return groups.flatMap((g) => {
    const n = parseInt(g, 16)
    return [n >> 8, n & 0xff]
  })
}

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff]

const tlv = (type: number, value: string) => {
  const bytes = [...new TextEncoder().encode(value)]
  return [type, ...u16(bytes.length), ...bytes]
}

/**
 * A PROXY protocol v2 header: the client's address and ours, and TLVs for
 * the negotiated ALPN protocol and the SNI name. `LOCAL` (no addresses)
 * when an address is unknown or the two are of different families.
 *
 * @internal
 */
export const encodeV2 = (
  source: { host: string; port: number } | undefined,
  destination: { host: string; port: number } | undefined,
  tlvs: { readonly alpn?: string | undefined; readonly authority?: string | undefined } = {}
): Uint8Array => {
  source = source === undefined ? undefined : { ...source, host: source.host.replace(/%.*$/, "") }
  destination = destination === undefined ? undefined : { ...destination, host: destination.host.replace(/%.*$/, "") }
  // A dual-stack listener ("::") seen by an IPv4 client: the unspecified address of its family.
  if (source !== undefined && destination?.host === "::" && isIPv4(source.host)) destination = { ...destination, host: "0.0.0.0" }
  const extra = [
    ...(tlvs.alpn === undefined ? [] : tlv(PP2_TYPE_ALPN, tlvs.alpn)),
    ...(tlvs.authority === undefined ? [] : tlv(PP2_TYPE_AUTHORITY, tlvs.authority))
  ]
  let command = 0x21 // version 2, PROXY
  let family = 0x00
  let addresses: Array<number> = []
  if (source !== undefined && destination !== undefined) {
    if (isIPv4(source.host) && isIPv4(destination.host)) {
      family = 0x11 // TCP over IPv4
      addresses = [...v4(source.host), ...v4(destination.host), ...u16(source.port), ...u16(destination.port)]
    } else if (isIPv6(source.host) && isIPv6(destination.host)) {
      family = 0x21 // TCP over IPv6
      addresses = [...v6(source.host), ...v6(destination.host), ...u16(source.port), ...u16(destination.port)]
    }
  }
  if (family === 0x00) command = 0x20 // version 2, LOCAL
  const body = [...addresses, ...extra]
  return Uint8Array.from([...SIGNATURE, command, family, ...u16(body.length), ...body])
}
