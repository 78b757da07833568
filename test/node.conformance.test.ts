import * as NodeTls from "@effect-tls/node/NodeTls"
import { sniAlpnConformance } from "./conformance/sniAlpn.js"
import { conformance } from "./conformance/suite.js"

conformance("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
sniAlpnConformance("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
