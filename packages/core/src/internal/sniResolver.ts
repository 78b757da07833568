/** @internal */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { ClientHello } from "../ClientHello.js"
import type { RecordOptions, SniResolver, SniResolverService } from "../SniResolver.js"
import { TlsAlertError, TlsConfigError, type TlsError } from "../TlsError.js"
import type { ServerContext } from "../TlsOptions.js"
import * as serverName from "./serverName.js"
import * as options from "./tlsOptions.js"

/** @internal */
export const matches = serverName.matches

/** @internal */
export const make = (
  resolve: SniResolverService["resolve"],
  contexts: SniResolverService["contexts"] = []
): SniResolverService => ({ resolve, contexts })

const unrecognized = (name: string) =>
  new TlsAlertError({
    alert: "unrecognized_name",
    direction: "sent",
    cause: `no certificate for ${JSON.stringify(name)}`
  })

/** @internal */
export const fromRecord = (
  record: Readonly<Record<string, ServerContext>>,
  recordOptions: RecordOptions = {}
): Effect.Effect<SniResolverService, TlsConfigError> =>
  Effect.gen(function*() {
    if (typeof record !== "object" || record === null) {
      return yield* new TlsConfigError({ option: "sni", reason: "expected a record of server names to contexts" })
    }
    const contexts: Array<readonly [string, ServerContext]> = []
    const exact = new Map<string, ServerContext>()
    // Wildcards by the suffix they cover: "*.example.com" under ".example.com".
    const wildcards = new Map<string, ServerContext>()
    for (const [key, context] of Object.entries(record)) {
      const label = `sni[${JSON.stringify(key)}]`
      const normalized = serverName.normalizePattern(key)
      if (Option.isNone(normalized)) {
        return yield* new TlsConfigError({
          option: label,
          reason: "expected a host name or a one-label wildcard such as *.example.com"
        })
      }
      const name = normalized.value
      const wildcard = name.startsWith("*.")
      yield* options.validateContext(context, label)
      contexts.push([label, context])
      if (wildcard) wildcards.set(name.slice(1), context)
      else exact.set(name, context)
    }
    const fallback = recordOptions.fallback
    if (fallback !== undefined) {
      yield* options.validateContext(fallback, "fallback")
      contexts.push(["fallback", fallback])
    }
    const strict = recordOptions.strict === true
    const lookup = (name: string): ServerContext | undefined => {
      const normalized = serverName.normalize(name)
      if (Option.isNone(normalized)) return undefined
      const n = normalized.value
      const hit = exact.get(n)
      if (hit !== undefined) return hit
      const dot = n.indexOf(".")
      return dot > 0 ? wildcards.get(n.slice(dot)) : undefined
    }
    return make(
      (servername): Effect.Effect<Option.Option<ServerContext>, TlsError> => {
        if (Option.isNone(servername)) return Effect.succeed(Option.fromNullable(fallback))
        const hit = lookup(servername.value)
        if (hit !== undefined) return Effect.succeed(Option.some(hit))
        return strict ? Effect.fail(unrecognized(servername.value)) : Effect.succeed(Option.fromNullable(fallback))
      },
      contexts
    )
  })

/** @internal */
export const layerRecord = (
  tag: Context.Tag<SniResolver, SniResolverService>,
  record: Readonly<Record<string, ServerContext>>,
  recordOptions?: RecordOptions
): Layer.Layer<SniResolver, TlsConfigError> => Layer.effect(tag, fromRecord(record, recordOptions))

/** @internal */
export const layer = <R>(
  tag: Context.Tag<SniResolver, SniResolverService>,
  resolve: (
    servername: Option.Option<string>,
    clientHello: ClientHello
  ) => Effect.Effect<Option.Option<ServerContext>, TlsError, R>
): Layer.Layer<SniResolver, never, R> =>
  Layer.effect(
    tag,
    Effect.map(Effect.context<R>(), (context) =>
      make((servername, hello) => Effect.provide(resolve(servername, hello), context)))
  )
