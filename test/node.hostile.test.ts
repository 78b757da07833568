import * as NodeTls from "@effect-tls/node/NodeTls"
import { hostileSuite } from "./hostile/suite.js"

hostileSuite("NodeTls.layer (sans-IO engine over node:tls)", NodeTls.layer)
hostileSuite("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, {
  common: { allowTruncation: true },
  // A connection cut short reads as a clean end: the trade allowTruncation makes.
  outcome: (_version, attack) => (attack === "cut" ? "clean end" : undefined)
})
