/**
 * @since 0.1.0
 */

/**
 * @since 0.2.0
 */
export * as AlpnSelector from "./AlpnSelector.js"

/**
 * @since 0.2.0
 */
export * as ClientHello from "./ClientHello.js"

/**
 * @since 0.1.0
 */
export * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.2.0
 */
export * as Readiness from "./Readiness.js"

/**
 * @since 0.3.0
 */
export * as ServerName from "./ServerName.js"

/**
 * @since 0.2.0
 */
export * as SniResolver from "./SniResolver.js"

/**
 * @since 0.1.0
 */
export * as Tls from "./Tls.js"

/**
 * @since 0.1.0
 */
export * as TlsConnection from "./TlsConnection.js"

/**
 * @since 0.1.0
 */
export * as TlsEngine from "./TlsEngine.js"

/**
 * @since 0.1.0
 */
export * as TlsError from "./TlsError.js"

/**
 * @since 0.3.0
 */
export * as TlsMetrics from "./TlsMetrics.js"

/**
 * @since 0.1.0
 */
export * as TlsOptions from "./TlsOptions.js"

/**
 * @since 0.2.0
 */
export * as TlsRuntime from "./TlsRuntime.js"

/**
 * @since 0.1.0
 */
export * as Transport from "./Transport.js"

/**
 * @since 0.3.0
 */
export * as SessionCache from "./SessionCache.js"

/**
 * @since 0.3.0
 */
export * as TicketKeys from "./TicketKeys.js"
