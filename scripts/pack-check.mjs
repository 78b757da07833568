#!/usr/bin/env node
// Checks the packages as a user gets them: `npm pack` each workspace package
// (its prepack script removes dist/ and builds it again), checks what each
// tarball holds, installs the tarballs into an empty project outside the
// repository together with the lowest `effect` the packages accept as a peer
// dependency, type-checks a consumer and the package READMEs' examples there
// (module resolution nodenext and bundler with TypeScript 7, node10 with
// TypeScript 5), then runs a TLS server and a client against it on 127.0.0.1
// (under Node, and under Bun when .runtimes/bun holds one). Then installs
// the command's package (@effect-tls/cli, which needs a newer effect than
// the libraries' lower bound: it peers on what @effect/cli needs) into a
// second empty project the way a user installs a tool, and runs its
// `effect-tls` bin there (demo, probe, help), under Node and Bun. Fails on
// any output that mentions a second Effect runtime ("Executing an Effect
// versioned ...").
//
//   node scripts/pack-check.mjs                  # effect at the declared lower bound
//   node scripts/pack-check.mjs --effect 3.22.4  # another version
//   node scripts/pack-check.mjs --keep           # keep the temporary project
//
// Needs the npm registry (for `effect`) and the `openssl` CLI.
import { execFileSync, spawnSync } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { bunBinary, root } from "./runtimes.mjs"

const args = process.argv.slice(2)
const option = (name) => {
  const i = args.indexOf(name)
  return i === -1 ? undefined : args[i + 1]
}
const keep = args.includes("--keep")
const packages = ["core", "node", "bun", "cli"]
/** The libraries: installed with the lowest effect they accept. */
const libraries = ["core", "node", "bun"]
const manifest = (name) => JSON.parse(readFileSync(join(root, "packages", name, "package.json"), "utf8"))
const declared = manifest("core").peerDependencies.effect
const effectVersion = option("--effect") ?? declared.replace(/^[\^~>=]+/, "")
const tsc = join(root, "node_modules", "typescript", "bin", "tsc")

const started = Date.now()
const problems = []
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`
const step = (text) => console.log(`pack-check: ${text} (${elapsed()})`)
const problem = (text) => {
  problems.push(text)
  console.log(`pack-check: PROBLEM ${text}`)
}
const sh = (cmd, argv, cwd, extra = {}) => {
  const r = spawnSync(cmd, argv, { cwd, encoding: "utf8", ...extra })
  if (r.error) throw r.error
  return r
}
const mustSucceed = (what, r) => {
  if (r.status !== 0) {
    console.log(r.stdout, r.stderr)
    throw new Error(`${what} failed (exit ${r.status ?? r.signal})`)
  }
  return r
}

const dir = mkdtempSync(join(tmpdir(), "effect-tls-packcheck-"))
const cleanup = () => {
  if (!keep) rmSync(dir, { recursive: true, force: true })
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    cleanup()
    process.kill(process.pid, signal)
  })
}

let bun
try {
  // 1. Pack (prepack builds each package with tsc -b).
  const tarballs = []
  let cliTarball
  for (const name of packages) {
    const r = mustSucceed(
      `npm pack packages/${name}`,
      sh("npm", ["pack", "--json", "--pack-destination", dir, "--workspace", `packages/${name}`], root)
    )
    const [info] = JSON.parse(r.stdout.slice(r.stdout.indexOf("[")))
    const files = info.files.map((f) => f.path)
    const stray = files.filter((f) =>
      !(f === "package.json" || f === "README.md" || f === "LICENSE" || f.startsWith("dist/") || f.startsWith("src/") ||
        (name === "cli" && f.startsWith("schema/")))
    )
    if (stray.length > 0) problem(`${info.name}: unexpected files in the tarball: ${stray.join(", ")}`)
    if (files.some((f) => f.endsWith(".tsbuildinfo"))) problem(`${info.name}: the tarball ships a .tsbuildinfo`)
    const stale = files.filter((f) =>
      f.startsWith("dist/") && f.endsWith(".js") && !files.includes(f.replace(/^dist\//, "src/").replace(/\.js$/, ".ts"))
    )
    if (stale.length > 0) problem(`${info.name}: dist files without a source (stale build output): ${stale.join(", ")}`)
    for (const needed of ["README.md", "LICENSE", "dist/index.js", "dist/index.d.ts", "src/index.ts"]) {
      if (!files.includes(needed)) problem(`${info.name}: ${needed} is missing from the tarball`)
    }
    const m = manifest(name)
    if (m.types === undefined) problem(`${info.name}: no "types" field`)
    if (m.dependencies?.effect !== undefined) problem(`${info.name}: effect is a dependency, not a peer dependency`)
    if (name === "cli") {
      // The command peers on what @effect/cli needs, at least core's bound.
      if (!/^\^3\.\d+\.\d+$/.test(m.peerDependencies?.effect ?? "")) problem(`${info.name}: peer effect ${m.peerDependencies?.effect}`)
      for (const [bin, file] of Object.entries(m.bin ?? {})) {
        if (!files.includes(file.replace(/^\.\//, ""))) problem(`${info.name}: bin ${bin} (${file}) is missing from the tarball`)
      }
    } else if (m.peerDependencies?.effect !== declared) {
      problem(`${info.name}: peer effect ${m.peerDependencies?.effect}, core says ${declared}`)
    }
    step(`${info.filename}: ${files.length} files, ${(info.size / 1024).toFixed(0)} KiB`)
    tarballs.push(join(dir, info.filename))
    if (name === "cli") cliTarball = join(dir, info.filename)
  }

  // 2. An empty project outside the repository.
  const project = join(dir, "project")
  mkdirSync(project)
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "packcheck", private: true, type: "module" }, null, 2))
  mustSucceed(
    `npm install effect@${effectVersion} and the tarballs`,
    sh("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", `effect@${effectVersion}`, ...tarballs.filter((t) => t !== cliTarball)], project)
  )
  const copies = readdirSync(project, { recursive: true }).filter((p) =>
    p.endsWith(join("node_modules", "effect", "package.json"))
  )
  if (copies.length !== 1) problem(`expected one copy of effect in the project, found ${copies.length}: ${copies.join(", ")}`)
  const installed = JSON.parse(readFileSync(join(project, "node_modules", "effect", "package.json"), "utf8")).version
  step(`installed the tarballs with effect ${installed} (${copies.length} copy)`)

  // 3. Type-check a consumer and the READMEs' examples against the installed packages.
  const examples = []
  for (const name of libraries) {
    const readme = readFileSync(join(root, "packages", name, "README.md"), "utf8")
    let i = 0
    for (const [, code] of readme.matchAll(/```ts\n([\s\S]*?)```/g)) {
      const file = `readme-${name}-${i++}.ts`
      writeFileSync(join(project, file), code)
      examples.push(file)
    }
  }
  writeFileSync(
    join(project, "consumer.ts"),
    [
      `import { RetryPolicy, Tls } from "@effect-tls/core"`,
      `import * as TlsError from "@effect-tls/core/TlsError"`,
      `import * as Testing from "@effect-tls/core/testing"`,
      `import { NodeTls } from "@effect-tls/node"`,
      `import * as NodeTransport from "@effect-tls/node/NodeTransport"`,
      `import { BunTls } from "@effect-tls/bun"`,
      `import { Effect, Layer } from "effect"`,
      `const policy = RetryPolicy.recurs(3)`,
      `const connect = Tls.connect({ host: "localhost", port: 1, retryPolicy: policy }).pipe(`,
      `  Effect.catchTag("TlsCertificateError", (e: TlsError.TlsCertificateError) => Effect.die(e.code)))`,
      `export const layers: ReadonlyArray<Layer.Layer<Tls.Tls>> = [NodeTls.layer, BunTls.layer, BunTls.layerSansIo]`,
      `export const kit = [Testing.makeFaultyPair, NodeTransport.fromSocket, connect] as const`,
      ""
    ].join("\n")
  )
  // The repository's TypeScript (7) for nodenext and bundler; TypeScript 5
  // for node10, the resolution TypeScript 7 dropped (and older tools use).
  const ts5 = join(project, "ts5")
  mkdirSync(ts5)
  writeFileSync(join(ts5, "package.json"), "{}")
  mustSucceed("npm install typescript@5", sh("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", "typescript@5"], ts5))
  const compilers = [
    ["TypeScript 7", tsc, [["nodenext", "nodenext"], ["bundler", "esnext"]]],
    ["TypeScript 5", join(ts5, "node_modules", "typescript", "bin", "tsc"), [["node10", "commonjs"]]]
  ]
  for (const [compiler, bin, modes] of compilers) {
    for (const [resolution, module] of modes) {
      const config = `tsconfig.${resolution}.json`
      writeFileSync(
        join(project, config),
        JSON.stringify({
          compilerOptions: {
            target: "ES2022",
            lib: ["ES2022"],
            module,
            moduleResolution: resolution,
            strict: true,
            exactOptionalPropertyTypes: true,
            noEmit: true,
            skipLibCheck: false,
            types: ["node"],
            typeRoots: [join(root, "node_modules", "@types")]
          },
          // node10 cannot read "exports": it gets the consumer only (root
          // imports through "types", subpaths through "typesVersions").
          files: resolution === "node10" ? ["consumer.ts"] : ["consumer.ts", ...examples]
        })
      )
      const r = sh(process.execPath, [bin, "-p", config], project)
      if (r.status !== 0) problem(`${compiler}, moduleResolution ${resolution}: tsc failed:\n${r.stdout}${r.stderr}`)
      else step(`${compiler}, moduleResolution ${resolution}: the consumer${resolution === "node10" ? "" : " and the READMEs' examples"} type-check`)
    }
  }

  // 4. A server and a client, in one process, on 127.0.0.1.
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", "key.pem", "-out", "cert.pem"
  ], { cwd: project, stdio: ["ignore", "pipe", "pipe"] })
  writeFileSync(
    join(project, "main.mjs"),
    `import { Tls } from "@effect-tls/core"
import { NodeTls } from "@effect-tls/node"
import { Effect, Option, Stream } from "effect"
import { readFileSync } from "node:fs"

const layer = process.versions.bun ? (await import("@effect-tls/bun")).BunTls.layer : NodeTls.layer
const cert = readFileSync("cert.pem")
const key = readFileSync("key.pem")
const program = Effect.gen(function*() {
  const server = yield* Tls.listen({ host: "127.0.0.1", port: 0, cert, key, alpnProtocols: ["h2"] })
  yield* Effect.forkScoped(server.serve((conn) => Stream.run(conn.stream, conn.sink)))
  const port = server.address.port
  const untrusted = yield* Effect.flip(Effect.scoped(Tls.connect({ host: "localhost", port })))
  const conn = yield* Tls.connect({ host: "localhost", port, ca: cert, alpnProtocols: ["h2"] })
  yield* conn.write("hello over tls")
  let got = ""
  while (got.length < 14) {
    const chunk = yield* conn.read
    if (Option.isNone(chunk)) break
    got += new TextDecoder().decode(chunk.value)
  }
  return [conn.info.protocol, Option.getOrNull(conn.info.alpnProtocol), conn.info.authorized, got, untrusted._tag].join(" ")
})
console.log(await Effect.runPromise(program.pipe(Effect.scoped, Effect.provide(layer))))
`
  )
  const expected = /^TLSv1\.3 h2 true hello over tls TlsCertificateError$/
  const runtimes = [["node", process.execPath, []]]
  bun = existsSync(join(root, ".runtimes", "bun")) ? bunBinary(join(root, ".runtimes", "bun")) : undefined
  if (bun !== undefined) runtimes.push(["bun", bun, []])
  else step("no .runtimes/bun (npm test installs it): the Bun run is skipped")
  for (const [label, bin, extra] of runtimes) {
    const r = sh(bin, [...extra, "main.mjs"], project, { timeout: 60_000 })
    const out = (r.stdout + r.stderr).trim()
    if (/Executing an Effect versioned/.test(out)) problem(`${label}: two Effect runtimes: ${out.split("\n")[0]}`)
    else if (r.status !== 0 || !expected.test(r.stdout.trim()) || r.stderr.trim() !== "") {
      problem(`${label}: client and server: exit ${r.status ?? r.signal}, printed:\n${out}`)
    } else step(`${label}: client and server: ${r.stdout.trim()}`)
  }

  // 5. The command, installed as a user installs a tool (npm adds the peers).
  const tool = join(dir, "tool")
  mkdirSync(tool)
  writeFileSync(join(tool, "package.json"), JSON.stringify({ name: "packcheck-tool", private: true }, null, 2))
  mustSucceed("npm install the command's tarball", sh("npm", ["install", "--no-audit", "--no-fund", "--no-package-lock", ...tarballs], tool))
  const toolEffects = readdirSync(tool, { recursive: true }).filter((p) => p.endsWith(join("node_modules", "effect", "package.json")))
  if (toolEffects.length !== 1) problem(`the command: expected one copy of effect, found ${toolEffects.length}: ${toolEffects.join(", ")}`)
  const bin = join(tool, "node_modules", ".bin", "effect-tls")
  if (!existsSync(bin)) problem("the command: node_modules/.bin/effect-tls is missing")
  else {
    const closed = mustSucceed("node -e (a closed port)", sh(process.execPath, ["-e", `const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})`], tool)).stdout.trim()
    const checks = [
      ["demo", ["demo"], 0, /got "HELLO OVER TLS"/],
      ["probe of a closed port", ["probe", `127.0.0.1:${closed}`, "--json"], 5, /"tag": "TlsTransportError"/],
      ["--help", ["--help"], 0, /COMMANDS[\s\S]*probe[\s\S]*serve[\s\S]*demo/]
    ]
    const toolRuntimes = [["node", bin, []]]
    if (bun !== undefined) toolRuntimes.push(["bun", bun, [bin]])
    for (const [label, command, prefix] of toolRuntimes) {
      for (const [what, argv, code, expected] of checks) {
        const r = sh(command, [...prefix, ...argv], tool, { timeout: 60_000 })
        const out = (r.stdout + r.stderr).trim()
        if (/Executing an Effect versioned/.test(out)) problem(`effect-tls ${what} on ${label}: two Effect runtimes`)
        else if (r.status !== code || !expected.test(r.stdout)) {
          problem(`effect-tls ${what} on ${label}: exit ${r.status ?? r.signal} (expected ${code}), printed:\n${out}`)
        } else step(`effect-tls ${what} on ${label}: exit ${code}`)
      }
    }
  }
} catch (e) {
  problem(e instanceof Error ? e.message : String(e))
} finally {
  cleanup()
}

const seconds = ((Date.now() - started) / 1000).toFixed(0)
if (keep) step(`kept ${dir}`)
if (problems.length > 0) {
  console.log(`pack-check: FAILED with ${problems.length} problem(s), effect ${effectVersion}, ${seconds} s`)
  process.exit(1)
}
console.log(`pack-check: ok (effect ${effectVersion}, ${seconds} s)`)
