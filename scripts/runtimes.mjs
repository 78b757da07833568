// The runtimes of the test matrix beyond the machine's Node, installed from
// the npm registry into .runtimes/ on first use (shared by test-matrix.mjs
// and bun.mjs).
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

export const root = fileURLToPath(new URL("..", import.meta.url))
export const BUN_VERSION = "1.4.5"

/** Run a command quietly; its output is printed only if it fails. */
export const quiet = (label, cmd, args, cwd = root) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" })
  if (r.status !== 0) {
    console.log(`\n=== ${label}: ${cmd} ${args.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}${r.error?.message ?? ""}`)
    console.log(`=== ${label}: FAILED (exit ${r.status ?? r.signal})`)
  }
  return r.status === 0
}

/** The version of package `name` installed under dir, if any. */
const installedVersion = (dir, name) => {
  try {
    return JSON.parse(readFileSync(join(dir, "node_modules", name, "package.json"), "utf8")).version
  } catch {
    return undefined
  }
}

/**
 * `npm install spec` into dir, unless dir has it: any version for a range
 * (`node@^24`), that very version for a pinned one (`bun@1.4.5`; a copy of
 * another version, left by an older checkout, is replaced).
 */
export const npmInstallRuntime = (dir, spec) => {
  const at = spec.lastIndexOf("@")
  const name = spec.slice(0, at)
  const version = spec.slice(at + 1)
  const pinned = /^\d+\.\d+\.\d+$/.test(version)
  if (existsSync(dir)) {
    if (!pinned || installedVersion(dir, name) === version) return true
    rmSync(dir, { recursive: true, force: true })
  }
  const ok = quiet(`install ${spec}`, "npm", [
    "install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--prefix", dir, spec
  ])
  if (ok) console.log(`\n=== installed ${spec} into ${dir}`)
  return ok
}

/**
 * The Bun binary of the npm package `bun`: its postinstall moves the
 * platform package's binary to bun/bin/bun.exe; where install scripts did
 * not run, the binary is still in @oven/bun-<platform>/bin/bun, and the
 * postinstall can be run by hand.
 */
export const bunBinary = (dir) => {
  const modules = join(dir, "node_modules")
  const works = (bin) => existsSync(bin) && spawnSync(bin, ["--version"], { encoding: "utf8" }).status === 0
  const candidates = () => [
    join(modules, "bun", "bin", "bun.exe"),
    ...(existsSync(join(modules, "@oven")) ? readdirSync(join(modules, "@oven")) : [])
      .map((p) => join(modules, "@oven", p, "bin", "bun"))
  ]
  let found = candidates().find(works)
  if (found === undefined && existsSync(join(modules, "bun", "install.js"))) {
    quiet("bun postinstall", process.execPath, ["install.js"], join(modules, "bun"))
    found = candidates().find(works)
  }
  return found
}

/** The matrix's Bun (.runtimes/bun), installed on first use; undefined if that failed. */
export const matrixBun = () => {
  const dir = join(root, ".runtimes", "bun")
  return npmInstallRuntime(dir, `bun@${BUN_VERSION}`) ? bunBinary(dir) : undefined
}

/** The matrix's Node 24 (.runtimes/node24), installed on first use; undefined if that failed. */
export const matrixNode24 = () => {
  const dir = join(root, ".runtimes", "node24")
  return npmInstallRuntime(dir, "node@^24") ? join(dir, "node_modules", "node", "bin", "node") : undefined
}
