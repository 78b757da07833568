#!/usr/bin/env node
// The npm registry this project installs from does not carry every
// platform build of some packages (rollup publishes one per OS/CPU), so
// `npm install` leaves them out of package-lock.json and `npm ci` then
// refuses the lock as out of sync. This records each missing optional
// platform package in the lock as optional, with the OS/CPU its name
// declares, so `npm ci` accepts the lock and skips them on this platform.
// Run it after `npm install` changes the lock.
import { readFileSync, writeFileSync } from "node:fs"

const file = new URL("../package-lock.json", import.meta.url)
const lock = JSON.parse(readFileSync(file, "utf8"))
const platform = (name) => {
  const n = name.split("/").pop()
  const os = ["android", "darwin", "freebsd", "linux", "openbsd", "openharmony", "win32", "sunos", "aix", "netbsd"]
    .find((o) => n.includes(`-${o}-`) || n.startsWith(`${o}-`))
  const cpu = ["arm64", "arm", "x64", "ia32", "loong64", "ppc64", "riscv64", "s390x", "mips64el"]
    .find((c) => n.includes(`-${c}`))
  return { os, cpu }
}
let added = 0
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`
    const nested = `${path}/node_modules/${dep}`
    if (lock.packages[key] || lock.packages[nested]) continue
    const { os, cpu } = platform(dep)
    lock.packages[key] = {
      version,
      ...(entry.dev ? { dev: true } : {}),
      optional: true,
      ...(os ? { os: [os] } : {}),
      ...(cpu ? { cpu: [cpu] } : {})
    }
    added++
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))))
writeFileSync(file, JSON.stringify(lock, null, 2) + "\n")
console.log(`recorded ${added} optional platform packages`)
