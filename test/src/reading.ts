/** Reading a connection in tests. */
import type { TlsConnection } from "@effect-tls/core/TlsConnection"
import { Effect, Option } from "effect"

/** Read until `text` has arrived (or the peer closed); everything read, as text. */
export const readUntil = (c: TlsConnection, text: string) =>
  Effect.gen(function*() {
    let got = ""
    while (!got.includes(text)) {
      const chunk = yield* c.read
      if (Option.isNone(chunk)) break
      got += Buffer.from(chunk.value).toString()
    }
    return got
  })
