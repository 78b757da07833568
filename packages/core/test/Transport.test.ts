import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Option } from "effect"
import * as Transport from "../src/Transport.js"

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill)

describe("Transport.makeMemoryPair", () => {
  it.scoped("carries bytes both ways", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Transport.makeMemoryPair()
      yield* a.write(bytes(3, 1))
      yield* b.write(bytes(2, 2))
      expect(yield* b.read).toEqual(Option.some(bytes(3, 1)))
      expect(yield* a.read).toEqual(Option.some(bytes(2, 2)))
    }))

  it.scoped("suspends a writer while the buffer is full", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Transport.makeMemoryPair({ capacity: 4 })
      yield* a.write(bytes(4))
      const blocked = yield* Effect.fork(a.write(bytes(4, 9)))
      yield* Effect.yieldNow()
      expect(blocked.unsafePoll()).toBeNull()
      expect(yield* b.read).toEqual(Option.some(bytes(4)))
      yield* Fiber.join(blocked)
      expect(yield* b.read).toEqual(Option.some(bytes(4, 9)))
    }))

  it.scoped("copies what it is given", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Transport.makeMemoryPair()
      const buffer = bytes(2, 5)
      yield* a.write(buffer)
      buffer.fill(0)
      expect(yield* b.read).toEqual(Option.some(bytes(2, 5)))
    }))

  it.scoped("reads the end after the data, then keeps reading the end", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Transport.makeMemoryPair()
      yield* a.write(bytes(1))
      yield* a.end
      expect(yield* b.read).toEqual(Option.some(bytes(1)))
      expect(yield* b.read).toEqual(Option.none())
      expect(yield* b.read).toEqual(Option.none())
      // Half-close: the other direction still works.
      yield* b.write(bytes(1, 3))
      expect(yield* a.read).toEqual(Option.some(bytes(1, 3)))
    }))

  it.scoped("fails writes towards a closed end", () =>
    Effect.gen(function*() {
      const [a, b] = yield* Transport.makeMemoryPair()
      yield* b.close
      expect(yield* Effect.flip(a.write(bytes(1)))).toMatchObject({ _tag: "TlsTransportError", reason: "Reset" })
      expect(yield* Effect.flip(b.read)).toMatchObject({ _tag: "TlsTransportError", reason: "Closed" })
      expect(yield* a.read).toEqual(Option.none())
    }))

  it.scoped("a read waiting on an end fails with Closed when that end is closed", () =>
    Effect.gen(function*() {
      const [, b] = yield* Transport.makeMemoryPair()
      const reading = yield* Effect.fork(Effect.flip(b.read))
      yield* Effect.yieldNow()
      expect(reading.unsafePoll()).toBeNull()
      yield* b.close
      expect(yield* Fiber.join(reading)).toMatchObject({ _tag: "TlsTransportError", reason: "Closed" })
    }))
})
