#!/usr/bin/env node
/**
 * The `effect-tls` executable: runs `Cli.run` on the runtime this process
 * is (Node or Bun), with `@effect/platform-node`'s context (Bun runs it
 * too). SIGINT and SIGTERM interrupt the command: `serve` drains its
 * connections and ends with exit code 0; a second signal ends the process
 * at once.
 *
 * @since 0.2.0
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Cli from "./Cli.js"
import * as TlsPlatform from "./TlsPlatform.js"

const fiber = Effect.runFork(
  Cli.run(process.argv).pipe(Effect.provide(Layer.merge(NodeContext.layer, TlsPlatform.layer)))
)
let stopping = false
const stop = (signal: NodeJS.Signals) => {
  if (stopping) process.exit(signal === "SIGINT" ? 130 : 143)
  stopping = true
  fiber.unsafeInterruptAsFork(fiber.id())
}
process.on("SIGINT", stop)
process.on("SIGTERM", stop)
fiber.addObserver((exit) => {
  process.off("SIGINT", stop)
  process.off("SIGTERM", stop)
  process.exitCode = Exit.isSuccess(exit) ? exit.value : Exit.isInterrupted(exit) && stopping ? 0 : 1
})
export {}
