import * as NodeTls from "@effect-tls/node/NodeTls"
import { driverConformance } from "./conformance/driver.js"
import { sniAlpnConformance } from "./conformance/sniAlpn.js"
import { conformance } from "./conformance/suite.js"

/** The default: strict close semantics, the sans-IO path. */
const strict = "NodeTls.layer (sans-IO engine over node:tls)"
conformance(strict, NodeTls.layer)
sniAlpnConformance(strict, NodeTls.layer)
driverConformance(strict, NodeTls.layer)

/** The opt-in: a bare FIN reads as a clean end, node:tls on the TCP handle. */
const native = "NodeTls.layer with allowTruncation (node:tls on the TCP handle)"
const allowTruncation = { allowTruncation: true }
conformance(native, NodeTls.layer, { common: allowTruncation })
sniAlpnConformance(native, NodeTls.layer, allowTruncation)
driverConformance(native, NodeTls.layer, { common: allowTruncation })
