/**
 * The bench under one runtime: every case, for effect-tls's layers and the
 * same runtime's raw TLS, in this process run, each run of a case taken
 * side by side (run 1 of every implementation, then run 2, ...). Prints a
 * table per path and, with --json, writes the samples for the driver
 * (scripts/bench.mjs, `npm run bench`), which runs this file under each
 * runtime in turn and draws the chart.
 *
 *   node --expose-gc test/dist/src/bench/main.js [--quick] [--cases bulk,echo] [--runs 3] ...
 *   bun test/dist/src/bench/main.js ...
 *
 * On Node: `NodeTls.layer` (strict: the sans-IO path) and `NodeTls.layer`
 * with `allowTruncation` (node:tls on the TCP handle) against node:tls
 * (`--ceiling` adds node:tls over a JS Duplex, the sans-IO path's ceiling;
 * and, unless `--no-floor`, the Effect floor: the thinnest Effect program
 * over node:tls, `effectFloor.ts`, against node:tls and as a second
 * baseline of the native path for every case but peak, resumed and the
 * traced handshakes; on Bun the same over Bun's TLS sockets).
 * On Bun: `BunTls.layer` (strict: the sans-IO path) against Bun's TLS
 * sockets and against Bun's node:tls over a JS Duplex (its ceiling) for bulk
 * and handshakes, and `BunTls.layer` with `allowTruncation` (Bun's own TLS
 * sockets) against Bun's TLS sockets.
 *
 * The memory cases (idle, peak) run each implementation in a fresh process
 * of the same runtime (this file with --child), so one run's heap does not
 * hide or inflate the next one's.
 */
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import * as os from "node:os"
import { fileURLToPath } from "node:url"
import { ours } from "./effect.js"
import { floor as effectFloor, make as makeFloor } from "./effectFloor.js"
import * as nodeRaw from "./nodeRaw.js"
import { mainUsage, type Options, parseOptions, usage } from "./options.js"
import {
  type CaseName,
  format,
  median,
  type MetricKey,
  metrics,
  type Path,
  pathTable,
  percentile,
  type RuntimeResult,
  type Samples
} from "./report.js"
import { type Impl, KiB, MiB, type Pems, type Sizes, sleep } from "./types.js"

const bun = (globalThis as { Bun?: { gc(force: boolean): void; version: string } }).Bun

/** The certificates: handed down by the driver, or made here (and removed at exit). */
const loadPems = async (): Promise<Pems> => {
  const given = process.env.EFFECT_TLS_BENCH_PKI
  if (given !== undefined && given !== "") return JSON.parse(given) as Pems
  const { generatePki } = await import("../pki.js")
  const pki = generatePki()
  process.on("exit", () => pki.cleanup())
  const pems: Pems = { ca: pki.root.cert, cert: pki.server.chain, key: pki.server.key }
  process.env.EFFECT_TLS_BENCH_PKI = JSON.stringify(pems)
  return pems
}

/** The opt-in native path: a FIN without close_notify may read as a clean end. */
const allowTruncation = { allowTruncation: true } as const

/** The native path also against the Effect floor (the chart draws it against raw TLS only). */
const floorBaseline = (native: Path, floor: string): Path => ({
  ...native,
  baselines: [...native.baselines, floor],
  only: { ...native.only, [floor]: floorCases },
  chart: "first"
})

/** The Effect floor itself against raw TLS: what any Effect API pays at the least (a table column, not a bar). */
const floorPath = (floor: string, raw: string): Path => ({ name: floor, impl: floor, baselines: [raw], chart: "none" })

/** The cases the Effect floor measures. */
const floorCases: ReadonlyArray<MetricKey> = [
  "bulk",
  "handshakes",
  "writes",
  "echo-p50",
  "echo-p99",
  "idle"
]

/**
 * The implementations of this runtime, and the paths compared: the
 * default layer (strict close semantics: the sans-IO path on every
 * runtime) and the same layer with `allowTruncation` (the runtime's
 * native TLS), each against the runtime's raw TLS; the default also
 * against its ceiling (node:tls over a JS Duplex) where asked for.
 */
const setup = async (
  pems: Pems,
  sizes: Sizes,
  ceiling: boolean,
  floor: boolean
): Promise<{ impls: Array<Impl>; paths: Array<Path> }> => {
  const duplex = nodeRaw.ceiling(pems, sizes)
  if (bun !== undefined) {
    const { BunTls } = await import("@effect-tls/bun")
    const bunRaw = await import("./bunRaw.js")
    const raw = bunRaw.raw(pems, sizes)
    const impls = [
      raw,
      ours("BunTls.layer", BunTls.layer, pems, sizes),
      ours("BunTls.layer allowTruncation", BunTls.layer, pems, sizes, allowTruncation),
      duplex
    ]
    const native: Path = { name: "BunTls.layer allowTruncation", impl: "BunTls.layer allowTruncation", baselines: [raw.name] }
    const paths: Array<Path> = [
      {
        name: "BunTls.layer",
        impl: "BunTls.layer",
        baselines: [raw.name, duplex.name],
        only: { [duplex.name]: ["bulk", "handshakes"] }
      },
      native
    ]
    if (floor) {
      const lowest = makeFloor("Effect over Bun TLS sockets", bunRaw.floorNet(pems), sizes)
      impls.push(lowest)
      paths[1] = floorBaseline(native, lowest.name)
      paths.push(floorPath(lowest.name, raw.name))
    }
    return { impls, paths }
  }
  const { NodeTls } = await import("@effect-tls/node")
  const raw = nodeRaw.raw(pems, sizes)
  const impls = [
    raw,
    ours("NodeTls.layer", NodeTls.layer, pems, sizes),
    ours("NodeTls.layer allowTruncation", NodeTls.layer, pems, sizes, allowTruncation)
  ]
  let native: Path = { name: "NodeTls.layer allowTruncation", impl: "NodeTls.layer allowTruncation", baselines: [raw.name] }
  const extra: Array<Path> = []
  if (floor) {
    const lowest = effectFloor(pems, sizes)
    impls.push(lowest)
    native = floorBaseline(native, lowest.name)
    extra.push(floorPath(lowest.name, raw.name))
  }
  const path: Path = { name: "NodeTls.layer", impl: "NodeTls.layer", baselines: [raw.name] }
  if (!ceiling) return { impls, paths: [path, native, ...extra] }
  impls.push(duplex)
  return {
    impls,
    paths: [
      { ...path, baselines: [raw.name, duplex.name], only: { [duplex.name]: ["bulk", "handshakes", "writes", "echo-p50", "echo-p99", "idle"] } },
      native,
      ...extra
    ]
  }
}

const collect = async () => {
  const g = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 2; i++) {
    if (g !== undefined) g()
    else bun?.gc(true)
    await sleep(10)
  }
}

const rss = () => process.memoryUsage.rss()

const RESULT = "BENCH-RESULT "

/** Prints the result and ends the process once it is written; never resolves. */
const report = (value: unknown): Promise<never> => {
  process.stdout.write(`${RESULT}${JSON.stringify(value)}\n`, () => process.exit(0))
  return new Promise<never>(() => {})
}

/** --child: one memory case, one implementation, in this fresh process. */
const child = async (options: Options) => {
  const pems = await loadPems()
  const { impls } = await setup(pems, options.sizes, true, true)
  const impl = impls.find((i) => i.name === options.impl)
  if (impl === undefined) throw new Error(`no implementation ${options.impl}`)
  if (options.child === "idle") {
    if (impl.idle === undefined) throw new Error(`${impl.name} has no idle case`)
    let before = 0
    let heapBefore = 0
    await impl.idle(options.sizes.idle, {
      before: async () => {
        await collect()
        before = rss()
        heapBefore = process.memoryUsage().heapUsed
      },
      after: async () => {
        await sleep(200)
        await collect()
        const n = options.sizes.idle
        return report({
          value: (rss() - before) / n / KiB,
          heapKiB: (process.memoryUsage().heapUsed - heapBefore) / n / KiB
        })
      }
    })
  } else {
    if (impl.peak === undefined) throw new Error(`${impl.name} has no peak case`)
    let baseline = 0
    let peak = 0
    let timer: ReturnType<typeof setInterval> | undefined
    await impl.peak({
      start: async () => {
        await collect()
        baseline = rss()
        peak = baseline
        timer = setInterval(() => {
          peak = Math.max(peak, rss())
        }, 10)
      },
      done: async (written) => {
        clearInterval(timer)
        peak = Math.max(peak, rss())
        return report({ value: (peak - baseline) / MiB, written })
      }
    })
  }
  throw new Error(`${impl.name} returned without reporting`)
}

const here = fileURLToPath(import.meta.url)

/** One memory case for one implementation in a fresh process of this runtime. */
const inChild = (c: CaseName, impl: string, sizes: Sizes) =>
  new Promise<{ value: number; written?: number }>((resolve, reject) => {
    const args = [...process.execArgv, here, "--child", c, "--impl", impl, "--sizes", JSON.stringify(sizes)]
    const proc = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    proc.stdout.setEncoding("utf8")
    proc.stdout.on("data", (d: string) => (out += d))
    const limit = setTimeout(() => proc.kill("SIGKILL"), (60 + sizes.peakSeconds) * 1000)
    proc.on("error", reject)
    proc.on("close", (code, signal) => {
      clearTimeout(limit)
      const line = out.split("\n").find((l) => l.startsWith(RESULT))
      const rest = out.split("\n").filter((l) => l !== "" && !l.startsWith(RESULT))
      if (rest.length > 0) console.log(rest.map((l) => `    | ${l}`).join("\n"))
      if (line !== undefined && code === 0) resolve(JSON.parse(line.slice(RESULT.length)))
      else reject(new Error(`child exited ${code ?? signal}${signal === "SIGKILL" ? " (timed out)" : ""}`))
    })
  })

/** A promise, or a failure once `seconds` passed (the run itself is not stopped). */
const within = <A>(seconds: number, p: Promise<A>) =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${seconds} s`)), seconds * 1000)
    p.then(
      (a) => {
        clearTimeout(timer)
        resolve(a)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      }
    )
  })

const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!

const main = async (options: Options) => {
  const started = performance.now()
  const pems = await loadPems()
  const { sizes, runs } = options
  const { impls, paths } = await setup(pems, sizes, options.ceiling, options.floor)
  const version = bun !== undefined ? `Bun ${bun.version}` : `Node ${process.version}`
  const tls = bun !== undefined
    ? `BoringSSL ${(process.versions.boringssl ?? "").slice(0, 10)}`
    : `OpenSSL ${process.versions.openssl}`
  const cpus = os.cpus()
  console.log(
    `\n== ${version} (${tls}), ${cpus.length} x ${cpus[0]?.model ?? "CPU"}, ${os.platform()} ${os.release()}\n` +
      `   cases: ${options.cases.join(", ")}; ${runs} runs each; implementations: ${impls.map((i) => i.name).join(", ")}`
  )

  const results: Partial<Record<MetricKey, Record<string, Samples>>> = {}
  const peakWritten: Record<string, Array<number>> = {}
  const slot = (key: MetricKey, impl: string): Samples => {
    const byImpl = (results[key] ??= {})
    return (byImpl[impl] ??= { samples: [], errors: [] })
  }
  const order = (run: number) => impls.map((_, i) => impls[(i + run) % impls.length]!)

  for (const c of options.cases) {
    const caseStarted = performance.now()
    const takers = impls.filter((i) => i[c] !== undefined)
    if (c === "idle" || c === "peak") {
      for (let run = 0; run < runs; run++) {
        for (const impl of order(run).filter((i) => takers.includes(i))) {
          try {
            const r = await inChild(c, impl.name, sizes)
            slot(c, impl.name).samples.push(r.value)
            if (r.written !== undefined) (peakWritten[impl.name] ??= []).push(r.written)
          } catch (e) {
            slot(c, impl.name).errors.push(message(e))
          }
        }
      }
    } else {
      const once = async (impl: Impl, warm: boolean): Promise<void> => {
        if (c === "bulk") {
          const bytes = warm ? Math.max(sizes.chunk, Math.round(sizes.bulkBytes / 8 / sizes.chunk) * sizes.chunk) : sizes.bulkBytes
          const ms = await impl.bulk!(bytes)
          if (!warm) slot("bulk", impl.name).samples.push(ms)
        } else if (c === "handshakes") {
          const n = warm ? Math.max(sizes.concurrency, Math.round(sizes.handshakes / 4)) : sizes.handshakes
          const ms = await impl.handshakes!(n)
          if (!warm) slot("handshakes", impl.name).samples.push(ms)
          // Ours again, with tracing off and with an OpenTelemetry tracer.
          if (impl.tracedHandshakes !== undefined) {
            for (const [key, tracing] of [["handshakes-untraced", "off"], ["handshakes-otel", "otel"]] as const) {
              await collect()
              const traced = await impl.tracedHandshakes(n, tracing)
              if (!warm) slot(key, impl.name).samples.push(traced)
            }
          }
        } else if (c === "resumed") {
          const ms = await impl.resumed!(warm ? Math.max(sizes.concurrency, Math.round(sizes.handshakes / 4)) : sizes.handshakes)
          if (!warm) slot("resumed", impl.name).samples.push(ms)
        } else if (c === "writes") {
          const ms = await impl.writes!(warm ? Math.max(1000, Math.round(sizes.writes / 10)) : sizes.writes)
          if (!warm) slot("writes", impl.name).samples.push(ms)
        } else if (c === "echo") {
          // The warm-up round trips run at the start of each run.
          const micros = await impl.echo!(sizes.echo, sizes.echoWarmup)
          slot("echo-p50", impl.name).samples.push(percentile(micros, 50))
          slot("echo-p99", impl.name).samples.push(percentile(micros, 99))
        }
      }
      const failed = new Set<Impl>()
      const attempt = async (impl: Impl, warm: boolean) => {
        if (failed.has(impl)) return
        await collect()
        try {
          await within(180, once(impl, warm))
        } catch (e) {
          failed.add(impl)
          const keys: ReadonlyArray<MetricKey> = metrics.filter((m) => m.case === c).map((m) => m.key)
          for (const key of keys) {
            slot(key, impl.name).errors.push(`${warm ? "warm-up: " : ""}${message(e)}`)
            slot(key, impl.name).samples.length = 0
          }
        }
      }
      if (c !== "echo") for (const impl of takers) await attempt(impl, true)
      for (let run = 0; run < runs; run++) {
        for (const impl of order(run).filter((i) => takers.includes(i))) await attempt(impl, false)
      }
    }
    // Progress: the samples of this case, as measured.
    for (const m of metrics.filter((m) => m.case === c)) {
      const line = takers.filter((i) => m.baseline === undefined || results[m.key]?.[i.name] !== undefined).map((i) => {
        const s = results[m.key]?.[i.name]
        if (s === undefined || s.samples.length === 0) return `${i.name} failed`
        return `${i.name} ${format(m, median(s.samples))}`
      })
      console.log(`   ${m.key.padEnd(10)} ${line.join(" | ")}`)
    }
    console.log(`   (${c}: ${((performance.now() - caseStarted) / 1000).toFixed(0)} s)`)
  }

  const result: RuntimeResult = {
    runtime: options.runtime ?? (bun !== undefined ? "bun" : "node"),
    version,
    tls,
    runs,
    sizes,
    paths,
    metrics: results,
    peakWritten,
    seconds: (performance.now() - started) / 1000
  }
  for (const path of paths) console.log(`\n${pathTable(result, path)}`)
  if (results.peak !== undefined) {
    const written = Object.entries(peakWritten).map(([name, w]) => `${name} ${(median(w) / MiB).toFixed(1)} MiB`)
    console.log(`peak: the writer's completed writes before it stopped (median): ${written.join(", ")}`)
  }
  console.log(`(${version}: ${result.seconds.toFixed(0)} s)`)
  if (options.json !== undefined) writeFileSync(options.json, JSON.stringify(result, null, 2))
}

let options: Options
try {
  options = parseOptions(process.argv.slice(2))
} catch (e) {
  console.error(`${message(e)}\n${usage}\n${mainUsage}`)
  process.exit(2)
}
const program = options.child !== undefined ? child(options) : main(options)
program.then(
  () => process.exit(0),
  (e) => {
    console.error(e)
    process.exit(1)
  }
)
