/** Tracing and metrics on Node: NodeTls.layer, on the default path and with allowTruncation. */
import * as NodeTls from "@effect-tls/node/NodeTls"
import { telemetrySuite } from "./telemetry/suite.js"

telemetrySuite("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
telemetrySuite("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, { allowTruncation: true })
