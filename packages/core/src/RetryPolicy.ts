/**
 * How the driver retries `TlsWantRead` / `TlsWantWrite`.
 *
 * A policy is an Effect `Schedule` over the Want errors. The driver consults
 * it only after it has done the I/O that a Want asks for (flushed the
 * outgoing buffer, or read one chunk from the transport and fed it to the
 * engine), so a retry always follows real progress and a policy never
 * drives a busy loop. When the policy gives up, the last Want error reaches
 * the caller unchanged.
 *
 * Time bounds on a phase (`handshakeTimeout`) are separate from the policy:
 * a peer that sends nothing never produces a Want to count, so only a timer
 * around the whole phase can end that wait.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Schedule from "effect/Schedule"
import type { TlsWant } from "./TlsError.js"

/**
 * @since 0.1.0
 * @category models
 */
export type RetryPolicy = Schedule.Schedule<unknown, TlsWant>

/**
 * At most `n` retries of one operation.
 *
 * @since 0.1.0
 * @category constructors
 */
export const recurs = (n: number): RetryPolicy => Schedule.recurs(n)

/**
 * The default: up to 65,536 retries of one operation. A handshake flight or a
 * 16 KiB record delivered one byte per transport read still completes; a
 * peer that trickles data forever does not keep an operation alive forever.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: RetryPolicy = Schedule.recurs(65_536)

/**
 * Retries for as long as `duration` has not elapsed since the first Want of
 * the operation (measured on the Effect Clock, so TestClock controls it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const within = (duration: Duration.DurationInput): RetryPolicy =>
  Schedule.upTo(Schedule.forever, Duration.decode(duration))

/**
 * Exponential backoff between retries, for transports that report no
 * readiness (each retry waits before it re-polls): `base`, doubling, capped
 * at `maxRetries` retries.
 *
 * @since 0.1.0
 * @category constructors
 */
export const backoff = (base: Duration.DurationInput, maxRetries: number): RetryPolicy =>
  Schedule.intersect(Schedule.exponential(base), Schedule.recurs(maxRetries))
