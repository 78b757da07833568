import * as NodeTls from "@effect-tls/node/NodeTls"
import { opensslInterop } from "./opensslSuite.js"

opensslInterop("NodeTls.layer", NodeTls.layer)
