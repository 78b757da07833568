/**
 * fast-check arbitraries for fault schedules and payloads.
 * @internal
 */
import * as fc from "effect/FastCheck"
import type { Faults } from "../../testing.js"

/** @internal */
export const rounds: fc.Arbitrary<number> = fc.integer({ min: 0, max: 10 })

/** Delays in ms, mostly 0 (each delayed piece costs the runner a clock step). @internal */
export const delays: fc.Arbitrary<Array<number>> = fc.array(
  fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 40 })),
  { maxLength: 4 }
)

/** @internal */
export const chunkSizes = (max = 64): fc.Arbitrary<Array<number>> =>
  fc.array(fc.integer({ min: 1, max }), { maxLength: 4 })

/** @internal */
export const faults = (maxChunk = 64): fc.Arbitrary<Faults> =>
  fc.record({ chunkSizes: chunkSizes(maxChunk), delays })

/** @internal */
export const message = (maxLength = 300): fc.Arbitrary<Uint8Array> =>
  fc.record({ length: fc.integer({ min: 1, max: maxLength }), seed: fc.integer({ min: 0, max: 255 }) }).map(
    ({ length, seed }) => Uint8Array.from({ length }, (_, i) => (seed + i * 31 + (i >> 8)) & 0xff)
  )
