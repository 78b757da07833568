import * as NodeTls from "@effect-tls/node/NodeTls"
import { conformance } from "./conformance/suite.js"

conformance("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
