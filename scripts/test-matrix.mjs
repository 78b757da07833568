#!/usr/bin/env node
// Runs every test: type-check, then the vitest suite under each runtime of
// the matrix (the machine's Node, then Node 24 from the npm package `node`,
// then Bun 1.4 from the npm package `bun`, each installed on first use into
// .runtimes/). Exits non-zero if any run fails.
//
// Under Bun only the Bun test files run (test/bun*.test.ts: the conformance
// suite against BunTls's layers); the rest of the suite is Node's.
//
//   EFFECT_TLS_RUNTIMES=node  npm test   # only the machine's Node
//   EFFECT_TLS_RUNTIMES=bun   npm test   # only Bun
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { join } from "node:path"

const root = fileURLToPath(new URL("..", import.meta.url))
const only = (process.env.EFFECT_TLS_RUNTIMES ?? "node,node24,bun").split(",").map((s) => s.trim())
const extraArgs = process.argv.slice(2)

const run = (label, cmd, args, env = {}, cwd = root) => {
  console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`)
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit", env: { ...process.env, ...env } })
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

/**
 * The Bun binary of the npm package `bun`: its postinstall moves the
 * platform package's binary to bun/bin/bun.exe; where install scripts did
 * not run, the binary is still in @oven/bun-<platform>/bin/bun, and the
 * postinstall can be run by hand.
 */
const bunBinary = (dir) => {
  const modules = join(dir, "node_modules")
  const works = (bin) => existsSync(bin) && spawnSync(bin, ["--version"], { encoding: "utf8" }).status === 0
  const candidates = () => [
    join(modules, "bun", "bin", "bun.exe"),
    ...(existsSync(join(modules, "@oven")) ? readdirSync(join(modules, "@oven")) : [])
      .map((p) => join(modules, "@oven", p, "bin", "bun"))
  ]
  let found = candidates().find(works)
  if (found === undefined && existsSync(join(modules, "bun", "install.js"))) {
    run("bun postinstall", process.execPath, ["install.js"], {}, join(modules, "bun"))
    found = candidates().find(works)
  }
  return found
}

if (only.includes("bun")) {
  const dir = join(root, ".runtimes", "bun")
  const ok = npmInstallRuntime(dir, "bun@1.4.4")
  const bin = ok ? bunBinary(dir) : undefined
  if (ok && bin === undefined) console.log("=== bun: no working binary in .runtimes/bun")
  const files = extraArgs.some((a) => !a.startsWith("-")) ? [] : ["test/bun"]
  results.push(["bun 1.4", bin !== undefined && run("vitest on bun", bin, ["--bun", vitest, "run", ...files, ...extraArgs], { EFFECT_TLS_RUNTIME: "bun" })])
}

console.log("\n=== summary")
for (const [name, ok] of results) console.log(`${ok ? "pass" : "FAIL"}  ${name}`)
process.exit(results.every(([, ok]) => ok) ? 0 : 1)
