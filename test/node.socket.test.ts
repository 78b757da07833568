import * as NodeTls from "@effect-tls/node/NodeTls"
import * as NodeTlsSocket from "@effect-tls/node/NodeTlsSocket"
import { runtimeSocketLayers, socketConformance } from "./socket/suite.js"

/** The default: strict close semantics, the sans-IO path. */
socketConformance("NodeTls.layer (sans-IO)", NodeTls.layer)

/** The opt-in: a bare FIN reads as a clean end, node:tls on the TCP handle. */
socketConformance("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, {
  common: { allowTruncation: true }
})

/** `@effect-tls/node/NodeTlsSocket`: the same with `NodeTls.layer` provided. */
runtimeSocketLayers("NodeTlsSocket", NodeTlsSocket)
