/**
 * SniResolver and AlpnSelector on their own: wildcard matching, record
 * lookup, strict mode, preference order.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option } from "effect"
import * as AlpnSelector from "../src/AlpnSelector.js"
import type { ClientHello } from "../src/ClientHello.js"
import * as SniResolver from "../src/SniResolver.js"
import type { ServerContext } from "../src/TlsOptions.js"

// PEM-shaped placeholders: the record checks shapes, not cryptography.
const pem = (label: string, body: string) => `-----BEGIN ${label}-----\n${btoa(body)}\n-----END ${label}-----\n`
const context = (name: string): ServerContext => ({
  cert: pem("CERTIFICATE", `cert for ${name}`),
  key: pem("PRIVATE KEY", `key for ${name}`)
})
const exact = context("exact")
const wild = context("wild")
const fallback = context("fallback")
const hello = {} as ClientHello

const resolve = (resolver: SniResolver.SniResolverService, name: string | undefined) =>
  resolver.resolve(Option.fromNullable(name), hello)

describe("SniResolver", () => {
  describe("matches", () => {
    it("an exact name matches itself, case-insensitively, with or without a trailing dot", () => {
      expect(SniResolver.matches("example.com", "example.com")).toBe(true)
      expect(SniResolver.matches("example.com", "EXAMPLE.com.")).toBe(true)
      expect(SniResolver.matches("example.com", "www.example.com")).toBe(false)
    })

    it("a wildcard covers exactly one label", () => {
      expect(SniResolver.matches("*.example.com", "a.example.com")).toBe(true)
      expect(SniResolver.matches("*.example.com", "A.Example.Com")).toBe(true)
      expect(SniResolver.matches("*.example.com", "a.b.example.com")).toBe(false)
      expect(SniResolver.matches("*.example.com", "example.com")).toBe(false)
      expect(SniResolver.matches("*.example.com", ".example.com")).toBe(false)
      expect(SniResolver.matches("*.example.com", "aexample.com")).toBe(false)
    })
  })

  describe("fromRecord", () => {
    const record = { "example.com": exact, "*.example.com": wild, "www.example.com": exact }

    it.effect("exact names win over wildcards", () =>
      Effect.gen(function*() {
        const r = yield* SniResolver.fromRecord(record)
        expect(yield* resolve(r, "www.example.com")).toEqual(Option.some(exact))
        expect(yield* resolve(r, "api.example.com")).toEqual(Option.some(wild))
        expect(yield* resolve(r, "example.com")).toEqual(Option.some(exact))
      }))

    it.effect("unknown names and missing SNI get the fallback, or None without one", () =>
      Effect.gen(function*() {
        const withFallback = yield* SniResolver.fromRecord(record, { fallback })
        expect(yield* resolve(withFallback, "a.b.example.com")).toEqual(Option.some(fallback))
        expect(yield* resolve(withFallback, undefined)).toEqual(Option.some(fallback))
        const without = yield* SniResolver.fromRecord(record)
        expect(yield* resolve(without, "other.org")).toEqual(Option.none())
        expect(yield* resolve(without, undefined)).toEqual(Option.none())
      }))

    it.effect("strict mode fails unknown names with unrecognized_name, but not a missing name", () =>
      Effect.gen(function*() {
        const r = yield* SniResolver.fromRecord(record, { strict: true, fallback })
        expect(yield* Effect.flip(resolve(r, "other.org"))).toMatchObject({
          _tag: "TlsAlertError",
          alert: "unrecognized_name",
          direction: "sent"
        })
        expect(yield* resolve(r, undefined)).toEqual(Option.some(fallback))
      }))

    it.effect("lists its contexts with their names so a server can build them up front", () =>
      Effect.gen(function*() {
        const r = yield* SniResolver.fromRecord({ "a.test": exact }, { fallback })
        expect(r.contexts.map(([name]) => name)).toEqual([`sni["a.test"]`, "fallback"])
      }))

    it.effect("rejects a context without a key", () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          SniResolver.fromRecord({ "a.test": { cert: exact.cert } as unknown as ServerContext })
        )
        expect(error).toMatchObject({ _tag: "TlsConfigError", option: `sni["a.test"].key` })
      }))
  })

  it.effect("layer takes its requirements from the layer's context", () =>
    Effect.gen(function*() {
      class Store extends Effect.Tag("test/Store")<Store, { readonly get: (n: string) => Option.Option<ServerContext> }>() {}
      const resolver = SniResolver.layer((name) => Effect.map(Store, (s) => Option.flatMap(name, s.get)))
      const service = yield* SniResolver.SniResolver.pipe(
        Effect.provide(resolver.pipe(Layer.provide(Layer.succeed(Store, { get: () => Option.some(exact) }))))
      )
      expect(yield* resolve(service, "x.test")).toEqual(Option.some(exact))
    }))
})

describe("AlpnSelector", () => {
  it.effect("preference: the first of the server's protocols that the client offers", () =>
    Effect.gen(function*() {
      const s = AlpnSelector.preference(["h2", "http/1.1"])
      expect(yield* s.select(["http/1.1", "h2"], Option.none())).toEqual(Option.some("h2"))
      expect(yield* s.select(["http/1.1", "spdy/3"], Option.none())).toEqual(Option.some("http/1.1"))
    }))

  it.effect("no overlap: no_application_protocol by default, None with onMismatch continue", () =>
    Effect.gen(function*() {
      expect(yield* Effect.flip(AlpnSelector.preference(["h2"]).select(["imap"], Option.none()))).toMatchObject({
        _tag: "TlsAlertError",
        alert: "no_application_protocol",
        direction: "sent"
      })
      const lenient = AlpnSelector.preference(["h2"], { onMismatch: "continue" })
      expect(yield* lenient.select(["imap"], Option.none())).toEqual(Option.none())
    }))

  it.effect("layerPreference rejects an empty list and a bad onMismatch", () =>
    Effect.gen(function*() {
      const build = (layer: Layer.Layer<AlpnSelector.AlpnSelector, unknown>) =>
        Effect.flip(Effect.scoped(Layer.build(layer)))
      expect(yield* build(AlpnSelector.layerPreference([]))).toMatchObject({ option: "alpnProtocols" })
      expect(
        yield* build(AlpnSelector.layerPreference(["h2"], { onMismatch: "ignore" as "alert" }))
      ).toMatchObject({ option: "onMismatch" })
    }))
})
