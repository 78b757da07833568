import * as NodeTls from "@effect-tls/node/NodeTls"
import { driverConformance } from "./conformance/driver.js"
import { sniAlpnConformance } from "./conformance/sniAlpn.js"
import { conformance } from "./conformance/suite.js"

conformance("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
sniAlpnConformance("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
driverConformance("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
