import * as NodeTls from "@effect-tls/node/NodeTls"
import { socketConformance } from "./socket/suite.js"

socketConformance("NodeTls.layer", NodeTls.layer)
