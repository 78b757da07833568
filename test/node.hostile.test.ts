import * as NodeTls from "@effect-tls/node/NodeTls"
import { hostileSuite } from "./hostile/suite.js"

hostileSuite("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
