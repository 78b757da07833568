/**
 * Hot reload and reusePort on Node, on both paths. `reusePort` binds on
 * Node.js 22.12, 23.1 and later (the matrix's Node 24) and fails with
 * TlsConfigError on older ones (Node 20), which would ignore it.
 */
import * as NodeTls from "@effect-tls/node/NodeTls"
import { reloadSuite } from "./reload/suite.js"

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
/** Node.js added `reusePort` to `server.listen` in 23.1 and 22.12. */
const reusePort = major >= 24 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12) ? "binds" : "TlsConfigError"
reloadSuite("NodeTls.layer (sans-IO)", NodeTls.layer, { reusePort, processes: "node" })
reloadSuite("NodeTls.layer with allowTruncation (node:tls on the TCP handle)", NodeTls.layer, {
  common: { allowTruncation: true },
  reusePort
})
