#!/usr/bin/env node
// Runs every test: type-check, then the vitest suite under each runtime of
// the matrix (the machine's Node, then Node 24 from the npm package `node`,
// installed on first use into .runtimes/). Exits non-zero if any run fails.
//
//   EFFECT_TLS_RUNTIMES=node  npm test   # only the machine's Node
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { join } from "node:path"

const root = fileURLToPath(new URL("..", import.meta.url))
const only = (process.env.EFFECT_TLS_RUNTIMES ?? "node,node24").split(",").map((s) => s.trim())
const extraArgs = process.argv.slice(2)

const run = (label, cmd, args, env = {}) => {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`)
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", env: { ...process.env, ...env } })
  if (r.status !== 0) console.log(`=== ${label}: FAILED (exit ${r.status ?? r.signal})`)
  return r.status === 0
}

const npmInstallRuntime = (dir, spec) => {
  if (existsSync(dir)) return true
  return run(`install ${spec}`, "npm", [
    "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--prefix", dir, spec
  ])
}

const vitest = join(root, "node_modules", "vitest", "vitest.mjs")
const results = []

results.push(["typecheck", run("typecheck", process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-b", "tsconfig.json"])])

if (only.includes("node")) {
  results.push([`node ${process.version}`, run(`vitest on node ${process.version}`, process.execPath, [vitest, "run", ...extraArgs], { EFFECT_TLS_RUNTIME: "node" })])
}

if (only.includes("node24")) {
  const dir = join(root, ".runtimes", "node24")
  const ok = npmInstallRuntime(dir, "node@^24")
  const bin = join(dir, "node_modules", "node", "bin", "node")
  results.push(["node 24", ok && run("vitest on node 24", bin, [vitest, "run", ...extraArgs], { EFFECT_TLS_RUNTIME: "node" })])
}

console.log("\n=== summary")
for (const [name, ok] of results) console.log(`${ok ? "pass" : "FAIL"}  ${name}`)
process.exit(results.every(([, ok]) => ok) ? 0 : 1)
