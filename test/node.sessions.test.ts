import * as NodeTls from "@effect-tls/node/NodeTls"
import { sessionSuite } from "./sessions/suite.js"

/** The default: node:tls over an in-memory Duplex. */
sessionSuite("NodeTls.layer (sans-IO)", NodeTls.layer)

/** The opt-in: node:tls on the TCP handle. */
sessionSuite("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, {
  common: { allowTruncation: true }
})
