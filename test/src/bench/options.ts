/**
 * The bench's options, shared by the runtime processes (main.ts) and the
 * driver (scripts/bench.mjs), which checks them before it starts anything.
 */
import { type CaseName, caseNames } from "./report.js"
import { KiB, MiB, type Sizes } from "./types.js"

export const defaultSizes: Sizes = {
  bulkBytes: 128 * MiB,
  chunk: 64 * KiB,
  handshakes: 300,
  concurrency: 16,
  writes: 500_000,
  writeSize: 100,
  echo: 5_000,
  echoWarmup: 2000,
  echoSize: 64,
  idle: 1000,
  peakSeconds: 2,
  peakBytes: 256 * MiB
}

export const quickSizes: Sizes = {
  ...defaultSizes,
  bulkBytes: 16 * MiB,
  handshakes: 48,
  writes: 50_000,
  echo: 500,
  echoWarmup: 100,
  idle: 50,
  peakSeconds: 0.5,
  peakBytes: 32 * MiB
}

export const usage = `options:
  --quick                small sizes (16 MiB, 48 handshakes, 50,000 writes, 500 round trips, 50 idle pairs, 0.5 s)
  --runs N               runs of each case (3)
  --cases LIST           of ${caseNames.join(",")} (all)
  --mib N                bulk: MiB one way (128)          --chunk-kib N    bulk: KiB per write (64)
  --handshakes N         full handshakes (300)            --concurrency N  handshakes and connects at a time (16)
  --writes N             small writes (500000)            --write-size N   bytes per small write (100)
  --echo N               round trips (5000)               --echo-warmup N  uncounted round trips first (2000)
  --echo-size N          bytes per round trip (64)        --idle N         idle connection pairs (1000)
  --peak-seconds N       peak: how long the writer writes (2)
  --peak-mib N           peak: at most this much attempted (256)
  --ceiling              on Node too: node:tls over a JS Duplex (bulk, handshakes, writes, echo, idle)
  --no-floor             skip the Effect floor: the thinnest Effect program over the runtime's raw TLS
                         sockets, no effect-tls (bulk, handshakes, writes, echo, idle), measured by
                         default as a column of its own and a second baseline of the allowTruncation path`

/** Options of main.js alone (the driver passes them). */
export const mainUsage = `  --runtime NAME         the driver's name for this runtime (node, node24, bun)
  --json FILE            write this runtime's results there`

export interface Options {
  readonly sizes: Sizes
  readonly runs: number
  readonly cases: ReadonlyArray<CaseName>
  readonly ceiling: boolean
  readonly floor: boolean
  readonly runtime: string | undefined
  readonly json: string | undefined
  readonly child: CaseName | undefined
  readonly impl: string | undefined
}

export class OptionError extends Error {}

const fail = (message: string): never => {
  throw new OptionError(message)
}

export const parseOptions = (argv: ReadonlyArray<string>): Options => {
  const values = new Map<string, string>()
  const flags = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--quick" || arg === "--ceiling" || arg === "--no-floor") flags.add(arg.slice(2))
    else if (arg.startsWith("--") && i + 1 < argv.length) values.set(arg.slice(2), argv[++i]!)
    else fail(`unknown argument ${arg}`)
  }
  const base = flags.has("quick") ? quickSizes : defaultSizes
  const known = new Set([
    "runs", "cases", "mib", "chunk-kib", "handshakes", "concurrency", "writes", "write-size", "echo",
    "echo-warmup", "echo-size", "idle", "peak-seconds", "peak-mib", "runtime", "json", "child", "impl", "sizes"
  ])
  for (const key of values.keys()) if (!known.has(key)) fail(`unknown option --${key}`)
  const num = (key: string, fallback: number, scale = 1) => {
    const v = values.get(key)
    if (v === undefined) return fallback * scale
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0) return fail(`--${key} wants a positive number, got ${v}`)
    return n * scale
  }
  const given = values.get("sizes")
  const sizes: Sizes = given !== undefined ? JSON.parse(given) as Sizes : {
    bulkBytes: Math.round(num("mib", base.bulkBytes / MiB, MiB)),
    chunk: Math.round(num("chunk-kib", base.chunk / KiB, KiB)),
    handshakes: Math.round(num("handshakes", base.handshakes)),
    concurrency: Math.round(num("concurrency", base.concurrency)),
    writes: Math.round(num("writes", base.writes)),
    writeSize: Math.round(num("write-size", base.writeSize)),
    echo: Math.round(num("echo", base.echo)),
    echoWarmup: Math.round(values.has("echo-warmup") ? Number(values.get("echo-warmup")) : base.echoWarmup),
    echoSize: Math.round(num("echo-size", base.echoSize)),
    idle: Math.round(num("idle", base.idle)),
    peakSeconds: num("peak-seconds", base.peakSeconds),
    peakBytes: Math.round(num("peak-mib", base.peakBytes / MiB, MiB))
  }
  const cases = (values.get("cases") ?? caseNames.join(",")).split(",").map((s) => s.trim()).filter((s) => s !== "")
  for (const c of cases) if (!caseNames.includes(c as CaseName)) fail(`unknown case ${c}`)
  const child = values.get("child")
  if (child !== undefined && child !== "idle" && child !== "peak") fail(`--child takes idle or peak`)
  return {
    sizes,
    runs: Math.round(num("runs", 3)),
    cases: caseNames.filter((c) => cases.includes(c)),
    ceiling: flags.has("ceiling"),
    floor: !flags.has("no-floor"),
    runtime: values.get("runtime"),
    json: values.get("json"),
    child: child as CaseName | undefined,
    impl: values.get("impl")
  }
}

