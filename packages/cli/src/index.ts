/**
 * @since 0.2.0
 */

/**
 * @since 0.2.0
 */
export * as Cli from "./Cli.js"

/**
 * @since 0.2.0
 */
export * as Demo from "./Demo.js"

/**
 * @since 0.2.0
 */
export * as Probe from "./Probe.js"

/**
 * @since 0.2.0
 */
export * as ProxyProtocol from "./ProxyProtocol.js"

/**
 * @since 0.2.0
 */
export * as Serve from "./Serve.js"

/**
 * @since 0.2.0
 */
export * as TlsPlatform from "./TlsPlatform.js"
