/**
 * @since 0.1.0
 */

/**
 * @since 0.1.0
 */
export * as NodeTls from "./NodeTls.js"

/**
 * @since 0.1.0
 */
export * as NodeTlsEngine from "./NodeTlsEngine.js"

/**
 * @since 0.1.0
 */
export * as NodeTransport from "./NodeTransport.js"

/**
 * @since 0.3.0
 */
export * as NodeKeylog from "./NodeKeylog.js"
