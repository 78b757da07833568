/** @internal */
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { AlpnSelector, AlpnSelectorService, OnMismatch } from "../AlpnSelector.js"
import { TlsAlertError, type TlsConfigError, type TlsError } from "../TlsError.js"
import * as options from "./tlsOptions.js"

/** @internal */
export const make = (select: AlpnSelectorService["select"]): AlpnSelectorService => ({ select })

/** @internal */
export const noOverlap = (offered: ReadonlyArray<string>) =>
  new TlsAlertError({
    alert: "no_application_protocol",
    direction: "sent",
    cause: `the client offered ${offered.map((p) => JSON.stringify(p)).join(", ")}, none of which the server speaks`
  })

/** @internal */
export const preference = (
  protocols: ReadonlyArray<string>,
  settings: { readonly onMismatch?: OnMismatch | undefined } = {}
): AlpnSelectorService => {
  const ours = [...protocols]
  const onMismatch = settings.onMismatch ?? "alert"
  return make((offered): Effect.Effect<Option.Option<string>, TlsError> => {
    const chosen = ours.find((p) => offered.includes(p))
    if (chosen !== undefined) return Effect.succeed(Option.some(chosen))
    return onMismatch === "continue" ? Effect.succeed(Option.none()) : Effect.fail(noOverlap(offered))
  })
}

/** @internal */
export const layerPreference = (
  tag: Context.Tag<AlpnSelector, AlpnSelectorService>,
  protocols: ReadonlyArray<string>,
  settings: { readonly onMismatch?: OnMismatch | undefined } = {}
): Layer.Layer<AlpnSelector, TlsConfigError> =>
  Layer.effect(
    tag,
    Effect.gen(function*() {
      yield* options.validateAlpn(protocols, settings.onMismatch)
      return preference(protocols, settings)
    })
  )

/** @internal */
export const layer = <R>(
  tag: Context.Tag<AlpnSelector, AlpnSelectorService>,
  select: (
    offered: ReadonlyArray<string>,
    servername: Option.Option<string>
  ) => Effect.Effect<Option.Option<string>, TlsError, R>
): Layer.Layer<AlpnSelector, never, R> =>
  Layer.effect(
    tag,
    Effect.map(Effect.context<R>(), (context) => make((offered, name) => Effect.provide(select(offered, name), context)))
  )
