/**
 * Per-connection resources, acquired and released at the cost of a plain
 * finalizer.
 *
 * `Effect.acquireRelease` runs the release with the acquiring fiber's
 * FiberRefs restored: it diffs and patches every FiberRef (log annotations,
 * spans, the context...) when the scope closes, which on a loopback
 * handshake costs about as much as the rest of the resource handling put
 * together. The releases made here (destroy a socket, an engine) read no
 * FiberRef, so they are added to the scope directly.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/**
 * `acquire` uninterruptibly, then release the result with `release` when the
 * current scope closes, whatever its exit.
 * @internal
 */
export const acquireRelease = <A, E, R>(
  acquire: Effect.Effect<A, E, R>,
  release: (a: A) => Effect.Effect<unknown>
): Effect.Effect<A, E, R | Scope.Scope> =>
  Effect.uninterruptible(
    Effect.flatMap(Effect.scope, (scope) =>
      Effect.tap(acquire, (a) => Scope.addFinalizer(scope, release(a))))
  )

/**
 * `make()`, owned by the current scope: made and handed to the scope in
 * one uninterruptible step, released by a plain finalizer.
 * @internal
 */
export const ownedByScope = <A>(
  make: () => A,
  release: (a: A) => Effect.Effect<unknown>
): Effect.Effect<A, never, Scope.Scope> => acquireRelease(Effect.sync(make), release)

