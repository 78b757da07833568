/** The node:tls engine's exact readiness (test/engine/exactReadiness.ts), on Node. */
import { exactReadiness } from "./engine/exactReadiness.js"

exactReadiness("Node")
