#!/usr/bin/env node
// `npm run bench`: builds the workspace, then runs the bench
// (test/dist/src/bench/main.js) under each runtime in turn, never two at
// once: the machine's Node, Node 24 and Bun 1.4 (both from .runtimes/,
// installed on first use as `npm test` does). Each runtime measures every
// case for effect-tls and for its own raw TLS in one process run and prints
// a table per path; this script then prints every ratio side by side, writes
// the results as JSON and draws the chart (SVG).
//
//   npm run bench                          # everything, default sizes (about 10 minutes on 2 cores)
//   npm run bench -- --quick               # small sizes, a minute or two
//   npm run bench -- --runtimes node,bun --cases bulk,echo
//   npm run bench:bun                      # Bun only (--runtimes bun)
//
// A full default run writes bench/results.json and docs/bench.svg (the
// figures the README shows); any other run writes .tmp/bench/results.json
// and .tmp/bench/bench.svg, unless --json / --svg say where.
import { spawn, spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as os from "node:os"
import { dirname, join, relative } from "node:path"
import { pathToFileURL } from "node:url"
import { matrixBun, matrixNode24, quiet, root } from "./runtimes.mjs"

const allRuntimes = ["node", "node24", "bun"]
const ownUsage = `usage: npm run bench -- [options]
  --runtimes LIST        of ${allRuntimes.join(",")} (all), run in that order
  --json FILE            combined results (bench/results.json for a full default run, else .tmp/bench/results.json)
  --svg FILE             the chart (docs/bench.svg for a full default run, else .tmp/bench/bench.svg)
  --no-build             skip tsc -b tsconfig.build.json`

// This script's own options; the rest goes to every runtime's bench.
const argv = process.argv.slice(2)
const forwarded = []
let runtimes = allRuntimes
let jsonFile
let svgFile
let build = true
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i]
  if (arg === "--runtimes" && i + 1 < argv.length) runtimes = argv[++i].split(",").map((s) => s.trim()).filter((s) => s !== "")
  else if (arg === "--json" && i + 1 < argv.length) jsonFile = argv[++i]
  else if (arg === "--svg" && i + 1 < argv.length) svgFile = argv[++i]
  else if (arg === "--no-build") build = false
  else if (arg === "--help" || arg === "-h") forwarded.push("--help")
  else forwarded.push(arg)
}
for (const r of runtimes) {
  if (!allRuntimes.includes(r)) {
    console.error(`unknown runtime ${r}\n${ownUsage}`)
    process.exit(2)
  }
}
const fullRun = forwarded.length === 0 && runtimes.join(",") === allRuntimes.join(",")
jsonFile ??= fullRun ? join(root, "bench", "results.json") : join(root, ".tmp", "bench", "results.json")
svgFile ??= fullRun ? join(root, "docs", "bench.svg") : join(root, ".tmp", "bench", "bench.svg")

if (build) {
  console.log("=== build: tsc -b tsconfig.build.json")
  if (!quiet("build", process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-b", "tsconfig.build.json"])) process.exit(1)
}
// What was built: the commit, and whether packages/ differed from it.
const git = (...args) => spawnSync("git", args, { cwd: root, encoding: "utf8" }).stdout?.trim() ?? ""
const commit = git("rev-parse", "--short", "HEAD")
const dirty = git("status", "--porcelain", "--", "packages") !== ""
const source = `${commit || "unknown commit"}${dirty ? " with uncommitted changes in packages/" : ""}`

// The bench runs a copy of this build, so that a rebuild during the run (the
// working tree is shared, dist/ with it) cannot change what is measured
// midway. The copy lives under .tmp/ so that `effect` still resolves from
// the repository's node_modules.
const snapshot = join(root, ".tmp", `bench-build-${process.pid}`)
process.on("exit", () => rmSync(snapshot, { recursive: true, force: true }))
for (const pkg of ["core", "node", "bun"]) {
  const to = join(snapshot, "node_modules", "@effect-tls", pkg)
  cpSync(join(root, "packages", pkg, "package.json"), join(to, "package.json"))
  cpSync(join(root, "packages", pkg, "dist"), join(to, "dist"), { recursive: true })
}
cpSync(join(root, "test", "package.json"), join(snapshot, "test", "package.json"))
cpSync(join(root, "test", "dist", "src"), join(snapshot, "test", "dist", "src"), { recursive: true })
const dist = join(snapshot, "test", "dist", "src")
const load = (file) => import(pathToFileURL(join(dist, file)).href)
const { parseOptions, usage } = await load("bench/options.js")
try {
  if (forwarded.includes("--help")) throw new Error("")
  parseOptions(forwarded)
} catch (e) {
  if (e.message !== "") console.error(e.message)
  console.error(`${ownUsage}\n${usage}`)
  process.exit(2)
}
const { summaryTable } = await load("bench/report.js")
const { chart } = await load("bench/chart.js")
const { generatePki } = await load("pki.js")

// One PKI for every runtime (removed at exit, also on Ctrl-C: pki.js).
const pki = generatePki()
const pems = { ca: pki.root.cert, cert: pki.server.chain, key: pki.server.key }
const scratch = mkdtempSync(join(os.tmpdir(), "effect-tls-bench-"))
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }))

let current
let stoppedBy
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(signal, () => {
    stoppedBy = signal
    pki.cleanup()
    if (current !== undefined && current.exitCode === null) current.kill(signal)
  })
}

const cpus = os.cpus()
const machine = {
  cpus: cpus.length,
  model: cpus[0]?.model ?? "unknown",
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  os: `${os.platform()} ${os.release()}`,
  loadAverage: os.loadavg().map((l) => Number(l.toFixed(2)))
}
const date = new Date()
console.log(
  `=== bench ${date.toISOString()}: ${machine.cpus} x ${machine.model}, ${machine.memoryGiB} GiB, ${machine.os}, ` +
    `load average ${machine.loadAverage.join(" ")}; ${source}`
)

/** [name, binary and its arguments before the script], or a reason it cannot run. */
const binaryOf = (name) => {
  if (name === "node") return [process.execPath, ["--expose-gc"]]
  if (name === "node24") {
    const bin = matrixNode24()
    return bin === undefined ? "could not install node@^24 into .runtimes/node24" : [bin, ["--expose-gc"]]
  }
  const bin = matrixBun()
  return bin === undefined ? "no working Bun in .runtimes/bun" : [bin, []]
}

const runOne = (name, bin, pre, out) =>
  new Promise((resolve) => {
    const args = [...pre, join(dist, "bench", "main.js"), ...forwarded, "--runtime", name, "--json", out]
    const child = spawn(bin, args, {
      cwd: root,
      stdio: "inherit",
      env: { ...process.env, EFFECT_TLS_BENCH_PKI: JSON.stringify(pems) }
    })
    current = child
    child.on("error", (e) => {
      console.log(`=== ${name}: could not start (${e.message})`)
      resolve(false)
    })
    child.on("close", (code, signal) => {
      current = undefined
      if (code !== 0) console.log(`=== ${name}: FAILED (exit ${code ?? signal})`)
      resolve(code === 0)
    })
  })

const results = []
const problems = []
for (const name of runtimes) {
  if (stoppedBy !== undefined) break
  const bin = binaryOf(name)
  if (typeof bin === "string") {
    problems.push(`${name}: ${bin}`)
    console.log(`=== ${name}: ${bin}`)
    continue
  }
  const out = join(scratch, `${name}.json`)
  const ok = await runOne(name, bin[0], bin[1], out)
  if (existsSync(out)) results.push(JSON.parse(readFileSync(out, "utf8")))
  else if (!ok) problems.push(`${name}: the bench failed`)
}
if (stoppedBy !== undefined) {
  console.log(`stopped by ${stoppedBy}`)
  process.exit(1)
}
if (results.length === 0) {
  console.log("no results")
  process.exit(1)
}

const runs = results[0].runs
const versions = results.map((r) => r.version).join(", ")
const subtitle = [
  `${date.toISOString().slice(0, 10)}, ${machine.cpus} x ${machine.model} (${machine.os}); ${versions}`,
  `median of ${runs} runs; 127.0.0.1, TLS 1.3, ECDSA P-256, client and server in one process; commit ${source}`
]
mkdirSync(dirname(jsonFile), { recursive: true })
mkdirSync(dirname(svgFile), { recursive: true })
writeFileSync(
  jsonFile,
  JSON.stringify({ date: date.toISOString(), commit, dirty, machine, arguments: argv, runtimes: results }, null, 2) + "\n"
)
writeFileSync(svgFile, chart(results, subtitle))

console.log(`\n=== ratios: effect-tls / raw TLS of the same runtime, same run; median of ${runs} runs (per-run range); lower is better`)
console.log(summaryTable(results))
for (const p of problems) console.log(`not measured: ${p}`)
console.log(`\nwrote ${relative(root, jsonFile)} and ${relative(root, svgFile)}`)
console.log(`total ${((Date.now() - date.getTime()) / 1000).toFixed(0)} s`)
process.exit(problems.length > 0 ? 1 : 0)
