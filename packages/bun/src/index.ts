/**
 * @effect-tls/bun: the Bun layer. Not implemented yet; see the README's
 * runtime table.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export const implemented = false
