/**
 * A plain byte pipe under TLS: a TCP socket, an in-memory pipe, an
 * already-open socket being upgraded.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/transport.js"
import type { TlsTransportError } from "./TlsError.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Transport {
  /**
   * The next chunk of bytes; `None` once the peer ended its write side.
   * Interrupted while it waits, it takes nothing.
   */
  readonly read: Effect.Effect<Option.Option<Uint8Array>, TlsTransportError>
  /**
   * Hand bytes to the transport. Completes when they are accepted into its
   * bounded buffer, not when the peer has them; while the buffer is full it
   * waits before accepting anything, so an interrupted write accepted none
   * of its bytes.
   */
  readonly write: (bytes: Uint8Array) => Effect.Effect<void, TlsTransportError>
  /**
   * End the write side (TCP half-close) after every byte already accepted.
   * Completes once they and the end were handed on (to the kernel, or to
   * the peer of an in-memory pipe), so that `close` afterwards drops
   * nothing; fails if the transport failed before that.
   */
  readonly end: Effect.Effect<void, TlsTransportError>
  /**
   * Release the transport at once, dropping whatever it still buffers.
   * Idempotent; never fails. A wait on `immediate.readable` in progress
   * then fails (`TlsTransportError` "Closed"); effect-tls's own transports
   * end a `read` in progress that way too.
   */
  readonly close: Effect.Effect<void>
  /** Where the peer is, when the transport knows (`"127.0.0.1:50102"`). */
  readonly remoteAddress: string | undefined
  /**
   * Optional synchronous access to the transport's buffers. A driver uses
   * it to take bytes that already arrived, and to hand over bytes while
   * there is room, in the step that needs them instead of waking a fiber
   * for each. A transport without it is driven through `read` and `write`.
   * It must move the same bytes as `read` and `write`: a wrapper that
   * changes either of those drops or wraps `immediate` too (`{ ...t,
   * immediate: undefined, read }`).
   */
  readonly immediate?: Immediate | undefined
}

/**
 * What a transport can answer at once. None of these waits; each either
 * does all of its work in the step that calls it or none of it.
 *
 * @since 0.2.0
 * @category models
 */
export interface Immediate {
  /**
   * A chunk already received (taken), `None` once the peer ended its write
   * side, or `undefined` when nothing is there now (or the transport
   * failed: `readable` then says how).
   */
  readonly tryRead: () => Option.Option<Uint8Array> | undefined
  /**
   * Completes once `tryRead` may answer something; fails as `read` would
   * when the transport failed or was closed. Takes nothing, so it may be
   * interrupted at any point.
   */
  readonly readable: Effect.Effect<void, TlsTransportError>
  /**
   * Accept all of `bytes` now if there is room and the transport is
   * healthy (true); otherwise accept none of them (false: `write` then
   * waits for room or says what failed). Accepted bytes are the
   * transport's: the caller gives up the buffer.
   */
  readonly tryWrite: (bytes: Uint8Array) => boolean
}

/**
 * Options of the in-memory pipe.
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryOptions {
  /** Bytes a direction buffers before `write` suspends. Default 256 KiB. */
  readonly capacity?: number | undefined
}

/**
 * Two transports joined back to back: what one writes, the other reads.
 * Closing either side releases both directions of that side.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryPair: (
  options?: MemoryOptions
) => Effect.Effect<readonly [Transport, Transport], never, Scope.Scope> = internal.makePair
