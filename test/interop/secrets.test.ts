import * as NodeTls from "@effect-tls/node/NodeTls"
import { secretsInterop } from "./secretsSuite.js"

secretsInterop("NodeTls.layer", NodeTls.layer)
secretsInterop("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, {
  common: { allowTruncation: true }
})
