#!/usr/bin/env node
// Runs every test: type-check, then the vitest suite under each runtime of
// the matrix (the machine's Node, then Node 24 from the npm package `node`,
// then Bun 1.4 from the npm package `bun`, each installed on first use into
// .runtimes/), and ends with a summary per runtime. Exits non-zero if any run
// fails.
//
// Under Bun only the Bun test files run (test/bun*.test.ts: the conformance
// suite against BunTls's layers); the rest of the suite is Node's.
//
//   EFFECT_TLS_RUNTIMES=node  npm test        # only the machine's Node
//   EFFECT_TLS_RUNTIMES=bun   npm test        # only Bun
//   EFFECT_TLS_REPORTER=default npm test      # vitest's per-file report instead of dots
//   EFFECT_TLS_LOGS=1 npm test                # show the library's WARN log lines too
//   EFFECT_TLS_PACK_CHECK=1 npm test          # then scripts/pack-check.mjs (CI does)
//   npm test -- test/interop                  # arguments go to every vitest run
//
// Output: vitest's dot reporter (one character per test, failures in full at
// the end of each run); test/setup/summaryReporter.ts writes each run's
// counts, skip notes (a missing optional peer such as gnutls-cli) and the
// number of hidden library log lines to a file that the summary reads.
//
// Ctrl-C (SIGINT), SIGTERM or SIGHUP stops the run in progress (each run is
// a process group of its own, and the signal is passed on to all of it) and
// starts no other.
import { spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bunBinary, BUN_VERSION, npmInstallRuntime, quiet, root } from "./runtimes.mjs"

const only = (process.env.EFFECT_TLS_RUNTIMES ?? "node,node24,bun").split(",").map((s) => s.trim())
const extraArgs = process.argv.slice(2)
const reporter = process.env.EFFECT_TLS_REPORTER ?? "dot"
const summaries = mkdtempSync(join(tmpdir(), "effect-tls-matrix-"))

let current
let stoppedBy
const signals = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 }
for (const signal of Object.keys(signals)) {
  process.on(signal, () => {
    stoppedBy = signal
    // The run is its own process group: the signal reaches vitest and its
    // workers alike (vitest stopped alone by SIGTERM leaves them running).
    if (current !== undefined && current.exitCode === null) {
      try {
        process.kill(-current.pid, signal)
      } catch {
        current.kill(signal)
      }
    }
  })
}
process.on("exit", () => rmSync(summaries, { recursive: true, force: true }))

/** Run a command with inherited output; resolves to true on exit 0. */
const run = (label, cmd, args, env = {}, cwd = root) =>
  new Promise((resolve) => {
    console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}`)
    const child = spawn(cmd, args, { cwd, stdio: "inherit", env: { ...process.env, ...env }, detached: true })
    current = child
    child.on("error", (e) => {
      console.log(`=== ${label}: could not start (${e.message})`)
      resolve(false)
    })
    child.on("close", (code, signal) => {
      current = undefined
      if (code !== 0) console.log(`=== ${label}: FAILED (exit ${code ?? signal})`)
      resolve(code === 0)
    })
  })

const vitest = join(root, "node_modules", "vitest", "vitest.mjs")
const ownReporter = extraArgs.some((a) => a.startsWith("--reporter"))
const reporterArgs = [
  ...(ownReporter ? [] : [`--reporter=${reporter}`]),
  "--reporter=./test/setup/summaryReporter.ts"
]
/** [name, ok, summary or undefined, seconds] */
const results = []

const runVitest = async (name, bin, args, env) => {
  if (stoppedBy !== undefined) return
  const file = join(summaries, `${results.length}.json`)
  rmSync(file, { force: true })
  const started = Date.now()
  const ok = await run(`vitest on ${name}`, bin, [...args, ...reporterArgs], { ...env, EFFECT_TLS_SUMMARY: file })
  const summary = existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : undefined
  results.push([name, ok, summary, (Date.now() - started) / 1000])
}

const versionOf = (bin) => spawnSync(bin, ["--version"], { encoding: "utf8" }).stdout?.trim()

const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
const typecheckStarted = Date.now()
console.log(`\n=== typecheck: tsc -b tsconfig.json`)
results.push(["typecheck", quiet("typecheck", process.execPath, [tsc, "-b", "tsconfig.json"]), undefined, (Date.now() - typecheckStarted) / 1000])

if (only.includes("node")) {
  await runVitest(`node ${process.version}`, process.execPath, [vitest, "run", ...extraArgs], { EFFECT_TLS_RUNTIME: "node" })
}

if (only.includes("node24") && stoppedBy === undefined) {
  const dir = join(root, ".runtimes", "node24")
  const bin = join(dir, "node_modules", "node", "bin", "node")
  if (npmInstallRuntime(dir, "node@^24")) {
    await runVitest(`node ${versionOf(bin) ?? "24"}`, bin, [vitest, "run", ...extraArgs], { EFFECT_TLS_RUNTIME: "node" })
  } else results.push(["node 24", false, undefined, 0])
}

if (only.includes("bun") && stoppedBy === undefined) {
  const dir = join(root, ".runtimes", "bun")
  const ok = npmInstallRuntime(dir, `bun@${BUN_VERSION}`)
  const bin = ok ? bunBinary(dir) : undefined
  if (ok && bin === undefined) console.log("=== bun: no working binary in .runtimes/bun")
  const files = extraArgs.some((a) => !a.startsWith("-")) ? [] : ["test/bun"]
  if (bin !== undefined) {
    await runVitest(`bun ${versionOf(bin) ?? "1.4"}`, bin, ["--bun", vitest, "run", ...files, ...extraArgs], { EFFECT_TLS_RUNTIME: "bun" })
  } else results.push([`bun ${BUN_VERSION}`, false, undefined, 0])
}

// The packages as a user installs them (CI sets EFFECT_TLS_PACK_CHECK=1).
if ((process.env.EFFECT_TLS_PACK_CHECK ?? "") !== "" && stoppedBy === undefined) {
  const started = Date.now()
  const ok = await run("pack-check", process.execPath, [join(root, "scripts", "pack-check.mjs")])
  results.push(["pack-check", ok, undefined, (Date.now() - started) / 1000])
}

// The summary: one line per step, the skip notes and hidden log lines, and
// the totals alone on the last line.
console.log("\n=== summary")
const width = Math.max(...results.map(([name]) => name.length))
const notes = new Map()
let passed = 0
let failed = 0
let skipped = 0
let hidden = 0
for (const [name, ok, summary, seconds] of results) {
  let counts = ""
  if (summary !== undefined) {
    counts = `${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`
    if (summary.failedFiles > 0) counts += `, ${summary.failedFiles} file(s) failed to run`
    if (summary.unhandledErrors > 0) counts += `, ${summary.unhandledErrors} unhandled error(s)`
    passed += summary.passed
    failed += summary.failed
    skipped += summary.skipped
    hidden += summary.hiddenLogs
    for (const [note, n] of summary.notes) notes.set(note, [...(notes.get(note) ?? []), `${n} on ${name}`])
  } else if (name.startsWith("node") || name.startsWith("bun")) counts = "no results"
  // A step that failed without a failed test (type errors, a crash, a file that did not load) counts as one failure.
  if (!ok && (summary === undefined || summary.failed === 0)) failed++
  console.log(`${ok ? "pass" : "FAIL"}  ${name.padEnd(width)}  ${counts}${counts === "" ? "" : "  "}(${seconds.toFixed(0)} s)`)
}
// The failed tests by name again, so the last lines of a long log say which ones.
for (const [name, , summary] of results) {
  for (const f of summary?.failures ?? []) console.log(`failed on ${name}: ${f.file} > ${f.name}${f.error === "" ? "" : ` (${f.error})`}`)
}
for (const [note, where] of notes) console.log(`skipped: ${note} (${where.join(", ")})`)
if (hidden > 0) console.log(`hidden: ${hidden} library log lines at WARN or below, from failures the tests cause on purpose (EFFECT_TLS_LOGS=1 shows them)`)
if (stoppedBy !== undefined) console.log(`stopped by ${stoppedBy}`)
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`)
if (stoppedBy !== undefined) process.exit(128 + signals[stoppedBy])
process.exit(results.every(([, ok]) => ok) ? 0 : 1)
