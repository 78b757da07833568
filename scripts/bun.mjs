#!/usr/bin/env node
// Runs the matrix's Bun (.runtimes/bun, installed from the npm package `bun`
// on first use, as `npm test` does) with the given arguments, so nothing
// needs `bun` on PATH:
//
//   node scripts/bun.mjs test/dist/src/swap.js
//
// (`npm run bench:bun` runs the bench under this Bun through scripts/bench.mjs.)
import { spawnSync } from "node:child_process"
import { matrixBun } from "./runtimes.mjs"

const bin = matrixBun()
if (bin === undefined) {
  console.error("no working Bun in .runtimes/bun")
  process.exit(1)
}
const r = spawnSync(bin, process.argv.slice(2), { stdio: "inherit" })
process.exit(r.status ?? 1)
