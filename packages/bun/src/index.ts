/**
 * @effect-tls/bun: the `Tls` service on Bun.
 *
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as BunTls from "./BunTls.js"

/**
 * @since 0.1.0
 */
export * as BunTransport from "./BunTransport.js"

/**
 * @since 0.3.0
 */
export * as BunKeylog from "./BunKeylog.js"
