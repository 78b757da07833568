/**
 * Server ticket keys on Node, on both paths, and `openssl s_client
 * -sess_out` / `-sess_in` against our server.
 */
import * as NodeTls from "@effect-tls/node/NodeTls"
import { ticketSuite } from "./tickets/suite.js"

/** The default: node:tls over an in-memory Duplex. */
ticketSuite("NodeTls.layer (sans-IO)", NodeTls.layer, { ticketKeys: true })

/** The opt-in: node:tls on the TCP handle (core reads the ClientHello first, then adopts). */
ticketSuite("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, {
  common: { allowTruncation: true },
  ticketKeys: true
})
