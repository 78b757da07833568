/** Server names: one normalisation for SNI and resolver patterns, and the client's subjectAltName rule. */
import { describe, expect, it } from "@effect/vitest"
import { Option } from "effect"
import * as ServerName from "../src/ServerName.js"

describe("ServerName", () => {
  it("normalize lower-cases, drops one trailing dot, and refuses what is not a host name", () => {
    expect(ServerName.normalize("Example.COM.")).toEqual(Option.some("example.com"))
    expect(ServerName.normalize("a_b.example")).toEqual(Option.some("a_b.example"))
    for (const bad of ["", ".", "a..b", "-a.example", "a-.example", "a/b", "a\u0000b", "*.example.com", "x".repeat(64)]) {
      expect(ServerName.normalize(bad)).toEqual(Option.none())
    }
    expect(ServerName.normalize(`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`)._tag).toBe("Some")
    expect(ServerName.normalize(`${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(62)}`)).toEqual(
      Option.none()
    )
  })

  it("normalizePattern also takes a one-label wildcard, and matches covers exactly one label", () => {
    expect(ServerName.normalizePattern("*.Example.com")).toEqual(Option.some("*.example.com"))
    expect(ServerName.normalizePattern("*.*.example.com")).toEqual(Option.none())
    expect(ServerName.normalizePattern("a.*.example.com")).toEqual(Option.none())
    expect(ServerName.matches("*.example.com", "A.example.com.")).toBe(true)
    expect(ServerName.matches("*.example.com", "a.b.example.com")).toBe(false)
    expect(ServerName.matches("*.example.com", "example.com")).toBe(false)
    expect(ServerName.matches("example.com", "EXAMPLE.com")).toBe(true)
  })

  it("identityRefusal: a host name needs a DNS subjectAltName, an IP an IP one; the CN never counts", () => {
    expect(ServerName.identityRefusal("localhost", undefined)._tag).toBe("Some")
    expect(ServerName.identityRefusal("localhost", "IP Address:127.0.0.1")._tag).toBe("Some")
    expect(ServerName.identityRefusal("localhost", "DNS:localhost, IP Address:127.0.0.1")).toEqual(Option.none())
    expect(ServerName.identityRefusal("127.0.0.1", "DNS:127.0.0.1")._tag).toBe("Some")
    expect(ServerName.identityRefusal("127.0.0.1", "DNS:localhost, IP Address:127.0.0.1")).toEqual(Option.none())
    expect(ServerName.identityRefusal("::1", "IP Address:0:0:0:0:0:0:0:1")).toEqual(Option.none())
  })
})
