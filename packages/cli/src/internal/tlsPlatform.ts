import { Tls } from "@effect-tls/core/Tls"
import * as NodeTls from "@effect-tls/node/NodeTls"
import * as NodeTransport from "@effect-tls/node/NodeTransport"
import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { TlsPlatform, TlsPlatformService } from "../TlsPlatform.js"

/** @internal */
export const isBun = (): boolean => typeof process !== "undefined" && process.versions.bun !== undefined

/** @internal */
export const layerNode = (tag: Context.Tag<TlsPlatform, TlsPlatformService>): Layer.Layer<TlsPlatform | Tls> =>
  Layer.merge(
    NodeTls.layer,
    Layer.succeed(tag, { name: "node", version: process.versions.node, connect: NodeTransport.connect })
  )

/** @internal */
export const layer = (tag: Context.Tag<TlsPlatform, TlsPlatformService>): Layer.Layer<TlsPlatform | Tls> =>
  isBun()
    ? Layer.unwrapEffect(
      Effect.promise(async () => {
        const [{ BunTls }, BunTransport] = await Promise.all([
          import("@effect-tls/bun"),
          import("@effect-tls/bun/BunTransport")
        ])
        return Layer.merge(
          Layer.succeed(Tls, BunTls.make),
          Layer.succeed(tag, {
            name: "bun" as const,
            version: process.versions.bun ?? "unknown",
            connect: BunTransport.connect
          })
        )
      })
    )
    : layerNode(tag)
