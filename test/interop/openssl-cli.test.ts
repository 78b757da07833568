import * as NodeTls from "@effect-tls/node/NodeTls"
import { opensslInterop } from "./opensslSuite.js"

opensslInterop("NodeTls.layer", NodeTls.layer)
opensslInterop("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, {
  common: { allowTruncation: true }
})
