/**
 * How the driver retries `TlsWantRead` / `TlsWantWrite`.
 *
 * A policy is an Effect `Schedule` over the Want errors. What counts as a
 * retry, exactly:
 *
 * 1. The driver runs an engine operation (handshake, read, write,
 *    shutdown). If it succeeds or fails with a `TlsError`, that is the
 *    answer; the policy is not involved.
 * 2. If it answers a Want, the driver gives that Want to the policy (one
 *    `Schedule` step, which may sleep: `backoff`). If the policy is done,
 *    the Want reaches the caller unchanged (`TlsTimeoutError` for `within`),
 *    and no I/O is done for it.
 * 3. Otherwise the driver does the I/O the Want asks for (WantRead: read ONE
 *    chunk from the transport and feed it, or feed end of input;
 *    WantWrite: wait until the outgoing ciphertext was flushed) and runs
 *    the operation again: that second run is one retry. Back to 1.
 *
 * One exception: a `read` that answers TlsWantRead before any input arrived
 * during that read is waiting for the peer, not retrying. That wait is not
 * given to the policy, so an idle connection can wait for its next message
 * as long as it likes, and a read's time bound (`within`) starts at its
 * first input. A write's bound starts at its first TlsWantWrite.
 *
 * So a retry always follows progress (new input, or a flush), never a busy
 * loop, and `recurs(n)` lets an operation that answers a Want k times in a
 * row complete iff k <= n (for a read: k Wants after its first input). The
 * bound is per operation, not per connection: each handshake, `read` and
 * `shutdown` starts a fresh policy, and so does each piece of a `write`
 * that the engine takes in several parts. Events that bring no data (a
 * socket becoming writable) never count.
 *
 * When a policy gives up, the connection breaks: the engine may hold part
 * of a record, so nothing later could be trusted. The error it gave up with
 * (the Want, or `TlsTimeoutError`) is sticky: every later call on the
 * connection fails with it, whatever the policy.
 *
 * Pick a policy per connection with the `retryPolicy` option (`connect`,
 * `listen`, `upgrade`); the default is `defaultPolicy`. The properties in
 * `packages/core/test/properties` check all of the above against the
 * driver; `@effect-tls/core/testing` lets you check your own policies the
 * same way.
 *
 * Time bounds on a whole phase (`handshakeTimeout`) are separate from the
 * policy: a peer that sends nothing never produces a Want to count, so only
 * a timer around the whole phase can end that wait.
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
 * At most `n` retries of one operation (n + 1 attempts): an operation that
 * answers a Want k times in a row completes iff k <= n; otherwise the
 * (n + 1)-th Want reaches the caller. `recurs(0)` never retries.
 *
 * @example
 * ```ts
 * // STARTTLS where the peer is expected to answer at once: fail fast.
 * Tls.upgrade(transport, { role: "client", servername, retryPolicy: RetryPolicy.recurs(8) })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const recurs = (n: number): RetryPolicy => {
  const policy = Schedule.recurs(n)
  retryLimits.set(policy, n)
  return policy
}

/**
 * The retry count of policies made by `recurs`: a driver may count them
 * itself instead of stepping a Schedule (same decisions, no allocation).
 */
const retryLimits = new WeakMap<object, number>()

/**
 * How many retries a policy made by `recurs` (or `defaultPolicy`) allows;
 * `None` for any other policy.
 *
 * @since 0.2.0
 * @category getters
 */
export const retryLimit = (policy: RetryPolicy): Option.Option<number> =>
  Option.fromNullable(retryLimits.get(policy))

/**
 * The default: up to 65,536 retries of one operation. A handshake flight or a
 * 16 KiB record delivered one byte per transport read still completes; a
 * peer that trickles data forever does not keep an operation alive forever.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultPolicy: RetryPolicy = recurs(65_536)

const timeBounds = new WeakMap<object, Duration.Duration>()

/**
 * Retries for as long as `duration` has not elapsed since the first Want of
 * the operation (measured on the Effect Clock, so TestClock controls it).
 * The policy is checked at each Want: the first Want at which `duration` or
 * more has elapsed since the first one ends the operation, at that moment,
 * with `TlsTimeoutError` (the operation's phase, and this bound) rather
 * than the Want. So it bounds a peer that trickles data; a peer that sends
 * nothing at all produces no Want, and is bounded by `handshakeTimeout`.
 * Only the policy returned here is recognised as time-bounded: composed
 * with other schedules it still bounds time, but gives up with the Want.
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
 * Exponential backoff, for transports that report no readiness (a native
 * socket polled without a readiness signal): retry i (from 0) waits
 * `base * 2^i` before its I/O, at most `maxRetries` retries. An operation
 * that needs k <= maxRetries retries completes after
 * `base * (2^k - 1)` of waiting.
 *
 * @since 0.1.0
 * @category constructors
 */
export const backoff = (base: Duration.DurationInput, maxRetries: number): RetryPolicy =>
  Schedule.intersect(Schedule.exponential(base), Schedule.recurs(maxRetries))
