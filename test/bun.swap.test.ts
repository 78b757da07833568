/**
 * The swap-runtime example (test/src/swap.ts) prints the same report under
 * Node with NodeTls.layer and under Bun with BunTls.layer. Runs inside Bun
 * (the matrix's Bun run), where both runtimes are at hand: Bun is
 * `process.execPath`, Node is the machine's `node`.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { beforeAll, describe, expect, it } from "vitest"

const root = fileURLToPath(new URL("..", import.meta.url))
const onBun = "Bun" in globalThis

const run = (runtime: string) => {
  const r = spawnSync(runtime, ["test/dist/src/swap.js"], { cwd: root, encoding: "utf8", timeout: 60_000 })
  expect(r.stderr, `${runtime} stderr`).toBe("")
  expect(r.status, `${runtime} exit`).toBe(0)
  return r.stdout
}

describe.runIf(onBun)("swap runtime: one program, NodeTls.layer on Node and BunTls.layer on Bun", () => {
  beforeAll(() => {
    const tsc = spawnSync("node", ["node_modules/typescript/bin/tsc", "-b", "tsconfig.build.json"], {
      cwd: root,
      encoding: "utf8"
    })
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0)
  })

  it("prints the same report on both", () => {
    const node = run("node")
    const bun = run(process.execPath)
    expect(node).toContain("echoed 4194304 bytes")
    expect(node).toContain("untrusted CA: TlsCertificateError code=UNABLE_TO_GET_ISSUER_CERT_LOCALLY")
    // The default is strict on both runtimes; allowTruncation reads a bare FIN as an end on both.
    const [strict, lenient] = node.split("== options").slice(1)
    expect(strict).toContain(`bare FIN after "last words": TlsUnexpectedEof phase=read`)
    expect(lenient).toContain(`bare FIN after "last words": clean end`)
    expect(bun).toBe(node)
  })
})

describe.skipIf(onBun)("swap runtime", () => {
  it.skip("runs inside Bun (npm test's Bun run)", () => {})
})
