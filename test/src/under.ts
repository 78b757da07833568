/**
 * What node:tls runs on: which sockets the TLSSockets made while an
 * Effect runs sit on (a TCP socket: the native path; a JS stream: the
 * sans-IO path). Node only.
 */
import { Effect } from "effect"
import * as net from "node:net"
import * as tls from "node:tls"

export type Under = "tcp" | "stream"

/** What each TLSSocket made while `effect` runs sits on, in the order they were made. */
export const watching = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const seen: Array<Under> = []
    const proto = tls.TLSSocket.prototype as unknown as { _init: (socket: unknown, wrap: unknown) => void }
    const original = proto._init
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        proto._init = function(this: unknown, socket: unknown, wrap: unknown) {
          seen.push(socket instanceof net.Socket && !(socket instanceof tls.TLSSocket) ? "tcp" : "stream")
          return original.call(this, socket, wrap)
        }
      }),
      () => Effect.sync(() => {
        proto._init = original
      })
    )
    yield* effect
    return seen
  })
