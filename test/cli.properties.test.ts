/**
 * Properties of the `effect-tls` command's parsers and encoders, without
 * sockets: a PROXY protocol v2 header (`ProxyProtocol.encodeV2`) read back
 * by the test backend's parser gives the addresses, ports and TLVs it was
 * made from; `--route` and `--sni` values parse back to their parts.
 *
 * A failing property prints its seed; replay it with PROPERTY_SEED=<seed>.
 */
import { describe, expect, it } from "@effect/vitest"
import { ProxyProtocol, Serve } from "@effect-tls/cli"
import { Effect, FastCheck as fc } from "effect"
import { afterEach } from "vitest"
import { parseProxyV2 } from "./src/cliPeers.js"

const RUNS = Number(process.env.PROPERTY_RUNS ?? 300)
const SEED = Number(process.env.PROPERTY_SEED ?? Math.floor(Math.random() * 2 ** 31))
const params = { fastCheck: { numRuns: RUNS, seed: SEED } }
afterEach((context) => {
  if (context.task.result?.state === "fail") console.log(`${context.task.name}: replay with PROPERTY_SEED=${SEED}`)
})

/** The canonical text of an IPv6 address (what the WHATWG URL parser prints). */
const canonical6 = (host: string) => new URL(`http://[${host}]/`).hostname.slice(1, -1)

const port = fc.integer({ min: 0, max: 65535 })
const tlvText = fc.option(fc.string({ minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\u0000")), { nil: undefined })
const header = (bytes: Uint8Array) => {
  const parsed = parseProxyV2(Buffer.from(bytes))
  if (parsed === undefined) throw new Error("incomplete header")
  expect(parsed.length).toBe(bytes.length)
  return parsed.header
}

describe("effect-tls: PROXY protocol v2 and option parsing (properties)", () => {
  it.prop("IPv4 endpoints and TLVs come back as they went in", [fc.ipV4(), port, fc.ipV4(), port, tlvText, tlvText], ([sh, sp, dh, dp, alpn, authority]) => {
    const h = header(ProxyProtocol.encodeV2({ host: sh, port: sp }, { host: dh, port: dp }, { alpn, authority }))
    expect(h.command).toBe("PROXY")
    expect(h.source).toEqual({ host: sh.split(".").map(Number).join("."), port: sp })
    expect(h.destination).toEqual({ host: dh.split(".").map(Number).join("."), port: dp })
    expect(h.alpn).toBe(alpn)
    expect(h.authority).toBe(authority)
  }, params)

  it.prop("IPv6 endpoints come back as the same addresses", [fc.ipV6(), port, fc.ipV6(), port], ([sh, sp, dh, dp]) => {
    const h = header(ProxyProtocol.encodeV2({ host: sh, port: sp }, { host: dh, port: dp }))
    expect(h.command).toBe("PROXY")
    expect(canonical6(h.source!.host)).toBe(canonical6(sh))
    expect(canonical6(h.destination!.host)).toBe(canonical6(dh))
    expect([h.source!.port, h.destination!.port]).toEqual([sp, dp])
  }, params)

  it.prop("an unknown or mixed-family endpoint gives LOCAL with no addresses, TLVs kept", [fc.option(fc.ipV4(), { nil: undefined }), fc.ipV6().filter((h) => canonical6(h) !== "::"), port, tlvText], ([v4, v6, p, alpn]) => {
    const h = header(ProxyProtocol.encodeV2(v4 === undefined ? undefined : { host: v4, port: p }, { host: v6, port: p }, { alpn }))
    expect(h.command).toBe("LOCAL")
    expect(h.source).toBeUndefined()
    expect(h.alpn).toBe(alpn)
  }, params)

  it("a dual-stack listener (::) seen by an IPv4 client reports 0.0.0.0 as the destination", () => {
    const h = header(ProxyProtocol.encodeV2({ host: "127.0.0.1", port: 5000 }, { host: "::", port: 443 }))
    expect(h).toMatchObject({ command: "PROXY", destination: { host: "0.0.0.0", port: 443 } })
  })

  it.prop("splitAddress reads what the runtimes' remoteAddress holds", [fc.oneof(fc.ipV4(), fc.ipV6()), port], ([host, p]) => {
    expect(ProxyProtocol.splitAddress(`${host}:${p}`)).toEqual({ host, port: p })
    if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) expect(ProxyProtocol.splitAddress(`::ffff:${host}:${p}`)).toEqual({ host, port: p })
  }, params)

  const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/)
  const name = fc.oneof(
    fc.constant("*"),
    fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join(".")),
    fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => `*.${l.join(".")}`)
  )
  const alpn = fc.option(fc.stringMatching(/^[a-z0-9./-]{1,12}$/).filter((s) => !s.includes("=")), { nil: undefined })
  const host = fc.oneof(fc.ipV4(), fc.ipV6().map((h) => `[${h}]`), fc.array(label, { minLength: 1, maxLength: 3 }).map((l) => l.join(".")))

  it.effect.prop("--route name[/alpn]=host:port parses to its parts", [name, alpn, host, port], ([n, a, h, p]) =>
    Effect.gen(function*() {
      const route = yield* Serve.parseRoute(`${n}${a === undefined ? "" : `/${a}`}=${h}:${p}`)
      expect(route).toEqual({ name: n, alpn: a, backend: { host: h.replace(/^\[|\]$/g, ""), port: p } })
    }), params)

  it.effect.prop("--sni name=cert,key parses to its parts", [name, fc.stringMatching(/^[\w./-]{1,30}$/), fc.stringMatching(/^[\w./,-]{1,30}$/)], ([n, cert, key]) =>
    Effect.gen(function*() {
      expect(yield* Serve.parseSni(`${n}=${cert},${key}`)).toEqual([n, { certFile: cert, keyFile: key }])
    }), params)
})
