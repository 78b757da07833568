/** @internal */
import * as Option from "effect/Option"

/** One DNS label: 1 to 63 letters, digits, `_` or `-`, not starting or ending with `-`. */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/

const lower = (name: string) => (name.endsWith(".") ? name.slice(0, -1) : name).toLowerCase()

const isHostname = (name: string) =>
  name.length > 0 && name.length <= 253 && name.split(".").every((label) => LABEL.test(label))

/** @internal */
export const normalize = (name: string): Option.Option<string> => {
  if (typeof name !== "string") return Option.none()
  const n = lower(name)
  return isHostname(n) ? Option.some(n) : Option.none()
}

/** @internal */
export const normalizePattern = (pattern: string): Option.Option<string> => {
  if (typeof pattern !== "string") return Option.none()
  const p = lower(pattern)
  if (p.startsWith("*.")) return isHostname(p.slice(2)) ? Option.some(p) : Option.none()
  return isHostname(p) ? Option.some(p) : Option.none()
}

/** @internal */
export const matches = (pattern: string, name: string): boolean => {
  const p = lower(pattern)
  const n = lower(name)
  if (!p.startsWith("*.")) return p === n
  const suffix = p.slice(1) // ".example.com"
  if (!n.endsWith(suffix)) return false
  const label = n.slice(0, n.length - suffix.length)
  return label.length > 0 && !label.includes(".")
}

const isIp = (host: string) =>
  /^\d{1,3}(?:\.\d{1,3}){3}$/.test(host) || (host.includes(":") && /^[0-9a-fA-F:.]+$/.test(host))

/** @internal */
export const identityRefusal = (host: string, subjectAltName: string | null | undefined): Option.Option<string> => {
  const entries = typeof subjectAltName === "string" ? subjectAltName.split(/,\s*/) : []
  if (isIp(host)) {
    return entries.some((e) => e.startsWith("IP Address:"))
      ? Option.none()
      : Option.some("the certificate has no IP address subjectAltName; its subject CN is never used")
  }
  return entries.some((e) => e.startsWith("DNS:"))
    ? Option.none()
    : Option.some("the certificate has no DNS subjectAltName; its subject CN is never used")
}
