/** The node:tls engine's exact readiness (test/engine/exactReadiness.ts), on Bun's node:tls. */
import { exactReadiness } from "./engine/exactReadiness.js"

exactReadiness("Bun")
