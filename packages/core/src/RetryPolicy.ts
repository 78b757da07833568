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
import * as Option from "effect/Option"
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

const timeBounds = new WeakMap<object, Duration.Duration>()

/**
 * Retries for as long as `duration` has not elapsed since the first Want of
 * the operation (measured on the Effect Clock, so TestClock controls it).
 * When it gives up, the caller gets `TlsTimeoutError` (with the operation's
 * phase and this bound) rather than the last Want error. The policy is
 * checked when a Want occurs, so it bounds a peer that trickles data; a
 * peer that sends nothing at all is bounded by `handshakeTimeout`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const within = (duration: Duration.DurationInput): RetryPolicy => {
  const bound = Duration.decode(duration)
  const policy = Schedule.upTo(Schedule.forever, bound)
  timeBounds.set(policy, bound)
  return policy
}

/**
 * The time bound of a policy made by `within` (a policy composed from it
 * with other schedules is not marked).
 *
 * @since 0.1.0
 * @category getters
 */
export const timeBound = (policy: RetryPolicy): Option.Option<Duration.Duration> =>
  Option.fromNullable(timeBounds.get(policy))

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
