/**
 * Results: what one runtime's run records (samples per metric per
 * implementation), the ratios drawn from them, and the tables printed on
 * stdout. Shared by the runtime processes (main.ts) and the driver
 * (scripts/bench.mjs), which combines every runtime's results.
 *
 * Every metric is "lower is better" (a time, a latency, memory), so a
 * ratio is ours / baseline: 1.0x is parity, 2.0x takes twice the time or
 * memory. A ratio is the median of ours over the median of the baseline;
 * its spread is the lowest and highest of the per-run ratios (run i of ours
 * against run i of the baseline, taken side by side).
 */
import { KiB, MiB, type Sizes } from "./types.js"

export type CaseName = "bulk" | "handshakes" | "resumed" | "writes" | "echo" | "idle" | "peak"
export const caseNames: ReadonlyArray<CaseName> = ["bulk", "handshakes", "resumed", "writes", "echo", "idle", "peak"]

export type MetricKey =
  | "bulk"
  | "handshakes"
  | "handshakes-untraced"
  | "handshakes-otel"
  | "resumed"
  | "writes"
  | "echo-p50"
  | "echo-p99"
  | "idle"
  | "peak"

export interface Metric {
  readonly key: MetricKey
  readonly case: CaseName
  /** What was measured, for tables. */
  readonly label: (sizes: Sizes) => string
  /** A short name, for the chart and the summary. */
  readonly short: (sizes: Sizes) => string
  /** How to show samples (ms, µs, KiB or MiB) near `median`: divide by, then name. */
  readonly unit: (median: number) => readonly [number, string]
  /** The rate a sample means, e.g. MiB/s. */
  readonly rate?: (value: number, sizes: Sizes) => string
  /**
   * Samples below this count as this much in ratios: raw TLS's peak under a
   * peer that never reads is often within the noise of RSS (the kernel holds
   * what was sent), and so can a small per-connection figure be; a ratio to
   * almost nothing (or to a negative delta) says nothing.
   */
  readonly floor?: number
  /**
   * The baselines' samples are those of this metric (a variant of ours
   * measured in the same runs, compared with the same raw figure).
   */
  readonly baseline?: MetricKey
  /** Left out of the chart (tables and the summary show it). */
  readonly chartless?: boolean
}

const int = (n: number) => Math.round(n).toLocaleString("en-US")
const digits = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2))
const amount = (n: number) => (Number.isInteger(n) ? int(n) : digits(n))
const ms: Metric["unit"] = (median) => (median >= 1000 ? [1000, "s"] : [1, "ms"])

export const metrics: ReadonlyArray<Metric> = [
  {
    key: "bulk",
    case: "bulk",
    short: () => "bulk one way",
    label: (s) => `bulk: ${amount(s.bulkBytes / MiB)} MiB one way, ${amount(s.chunk / KiB)} KiB writes`,
    unit: ms,
    rate: (v, s) => `${int(s.bulkBytes / MiB / (v / 1000))} MiB/s`
  },
  {
    key: "handshakes",
    case: "handshakes",
    short: () => "full handshakes",
    label: (s) => `handshakes: ${int(s.handshakes)} full, ${s.concurrency} at a time`,
    unit: ms,
    rate: (v, s) => `${int(s.handshakes / (v / 1000))}/s`
  },
  {
    // The same handshakes, Effect's tracer disabled (the row above runs
    // under its default tracer, which makes every span and exports none).
    key: "handshakes-untraced",
    case: "handshakes",
    short: () => "handshakes, tracing off",
    label: (s) => `handshakes, tracing off: ${int(s.handshakes)} full`,
    unit: ms,
    rate: (v, s) => `${int(s.handshakes / (v / 1000))}/s`,
    baseline: "handshakes",
    chartless: true
  },
  {
    // ... and with an OpenTelemetry SDK tracer (batch processor, in-memory exporter).
    key: "handshakes-otel",
    case: "handshakes",
    short: () => "handshakes, OpenTelemetry",
    label: (s) => `handshakes, OpenTelemetry tracer: ${int(s.handshakes)} full`,
    unit: ms,
    rate: (v, s) => `${int(s.handshakes / (v / 1000))}/s`,
    baseline: "handshakes",
    chartless: true
  },
  {
    key: "resumed",
    case: "resumed",
    short: () => "resumed handshakes",
    label: (s) => `resumed: ${int(s.handshakes)} resumed handshakes (TLS 1.3 tickets), ${s.concurrency} at a time`,
    unit: ms,
    rate: (v, s) => `${int(s.handshakes / (v / 1000))}/s`
  },
  {
    key: "writes",
    case: "writes",
    short: (s) => `${s.writeSize} B writes`,
    label: (s) => `writes: ${int(s.writes)} x ${s.writeSize} B, one write each`,
    unit: ms,
    rate: (v, s) => `${int(s.writes / (v / 1000) / 1000)}k/s`
  },
  {
    key: "echo-p50",
    case: "echo",
    short: () => "echo p50",
    label: (s) => `echo p50: ${s.echoSize} B round trip (${int(s.echo)})`,
    unit: () => [1, "µs"]
  },
  {
    key: "echo-p99",
    case: "echo",
    short: () => "echo p99",
    label: (s) => `echo p99: ${s.echoSize} B round trip`,
    unit: () => [1, "µs"]
  },
  {
    key: "idle",
    case: "idle",
    short: () => "idle memory",
    label: (s) => `idle: RSS per connection pair (${int(s.idle)} pairs)`,
    unit: () => [1, "KiB"],
    floor: 1
  },
  {
    key: "peak",
    case: "peak",
    short: () => "peak memory",
    label: (s) => `peak: RSS above start, peer never reads (${amount(s.peakSeconds)} s)`,
    unit: () => [1, "MiB"],
    floor: 1
  }
]

/** A value in the metric's unit chosen for `median`, with that unit. */
export const format = (m: Metric, value: number, median = value): string => {
  const [divisor, suffix] = m.unit(median)
  return `${digits(value / divisor)} ${suffix}`
}

export const metric = (key: MetricKey): Metric => metrics.find((m) => m.key === key)!

/** The samples of baseline `b` that metric `m` of ours is compared with. */
const baseSamples = (result: RuntimeResult, m: Metric, b: string): Samples | undefined =>
  result.metrics[m.baseline ?? m.key]?.[b]

/** The samples of one metric for one implementation (one per run), or why there are none. */
export interface Samples {
  readonly samples: Array<number>
  readonly errors: Array<string>
}

/** A path under measurement: an implementation of ours and the baselines it is compared with. */
export interface Path {
  /** e.g. "NodeTls.layer". */
  readonly name: string
  /** The implementation's name in `metrics`. */
  readonly impl: string
  /** Baselines, the raw TLS of the runtime first. */
  readonly baselines: ReadonlyArray<string>
  /** Metrics compared with a baseline other than the first (absent: all it has). */
  readonly only?: Readonly<Record<string, ReadonlyArray<MetricKey>>>
  /** Which of its series the chart draws: every baseline (absent), the first only, or none. */
  readonly chart?: "first" | "none"
}

/** What one runtime process writes. */
export interface RuntimeResult {
  /** "node", "node24" or "bun": the driver's name for the runtime. */
  readonly runtime: string
  /** e.g. "Node v20.20.2" or "Bun 1.4.4". */
  readonly version: string
  /** e.g. "OpenSSL 3.0.19". */
  readonly tls: string
  readonly runs: number
  readonly sizes: Sizes
  readonly paths: ReadonlyArray<Path>
  readonly metrics: Partial<Record<MetricKey, Record<string, Samples>>>
  /** Per run of the peak case: bytes the writer's writes completed, per implementation. */
  readonly peakWritten: Record<string, Array<number>>
  readonly seconds: number
}

export const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** The p-th percentile (0-100), nearest rank. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}

export interface Ratio {
  readonly ratio: number
  readonly min: number
  readonly max: number
}

/** Ours against a baseline, when both have every run; samples below `floor` count as `floor`. */
export const ratio = (ours: Samples | undefined, base: Samples | undefined, floor = 0): Ratio | undefined => {
  if (ours === undefined || base === undefined) return undefined
  if (ours.samples.length === 0 || ours.samples.length !== base.samples.length) return undefined
  const f = (v: number) => Math.max(v, floor)
  const pairs = ours.samples.map((o, i) => f(o) / f(base.samples[i]!))
  return { ratio: f(median(ours.samples)) / f(median(base.samples)), min: Math.min(...pairs), max: Math.max(...pairs) }
}

export const formatRatio = (r: Ratio | undefined) =>
  r === undefined ? "-" : `${r.ratio.toFixed(2)}x (${r.min.toFixed(2)}-${r.max.toFixed(2)})`

const cell = (m: Metric, s: Samples | undefined, sizes: Sizes) => {
  if (s === undefined) return "-"
  if (s.samples.length === 0) return s.errors.length > 0 ? "failed" : "-"
  const med = median(s.samples)
  const [divisor] = m.unit(med)
  const bare = (v: number) => digits(v / divisor)
  const range = s.samples.length === 1 ? "" : ` [${bare(Math.min(...s.samples))}-${bare(Math.max(...s.samples))}]`
  return `${format(m, med)}${range}${m.rate === undefined ? "" : ` ${m.rate(med, sizes)}`}`
}

/** Columns padded to their widest cell. */
export const table = (rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)))
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n")
}

/** Whether `path` is compared with `baseline` on `key`. */
export const compares = (path: Path, baseline: string, key: MetricKey) =>
  path.only?.[baseline] === undefined || path.only[baseline]!.includes(key)

/** The table of one path: each metric's baselines, ours, and the ratios. */
export const pathTable = (result: RuntimeResult, path: Path): string => {
  const keys = metrics.filter((m) => result.metrics[m.key] !== undefined)
  const header = [
    "case",
    ...path.baselines,
    path.name,
    ...path.baselines.map((b, i) => (i === 0 ? `${path.name} / ${b}` : `/ ${b}`))
  ]
  const rows = keys.map((m) => {
    const byImpl = result.metrics[m.key]!
    const ours = byImpl[path.impl]
    return [
      m.label(result.sizes),
      ...path.baselines.map((b) => (compares(path, b, m.key) ? cell(m, baseSamples(result, m, b), result.sizes) : "-")),
      cell(m, ours, result.sizes),
      ...path.baselines.map((b) =>
        compares(path, b, m.key) ? formatRatio(ratio(ours, baseSamples(result, m, b), m.floor)) : "-"
      )
    ]
  })
  const errors = keys.flatMap((m) =>
    Object.entries(result.metrics[m.key]!).flatMap(([impl, s]) =>
      [...new Set(s.errors)].map((e) => `  ${m.key} ${impl}: ${e}`)
    )
  )
  return [
    `${result.version} (${result.tls}): ${path.name} against ${path.baselines.join(" and ")}`,
    `median of ${result.runs} runs [lowest-highest]; ratio = ${path.name} / baseline (lower is better), median (per-run range)`,
    table([header, ...rows]),
    ...(errors.length > 0 ? ["failures:", ...errors] : [])
  ].join("\n")
}

/** A series of the summary and chart: one path against one baseline on one runtime. */
export interface Series {
  readonly label: string
  readonly ratios: Partial<Record<MetricKey, Ratio>>
  /** Drawn in the chart (the table has every series). */
  readonly chart: boolean
}

/** "Node 20", "Node 24", "Bun 1.4.4". */
export const runtimeName = (r: RuntimeResult) =>
  r.version.startsWith("Node v") ? `Node ${r.version.slice(6).split(".")[0]}` : r.version

export const series = (results: ReadonlyArray<RuntimeResult>): Array<Series> =>
  results.flatMap((r) =>
    r.paths.flatMap((path) =>
      path.baselines.map((b, i) => ({
        label: `${runtimeName(r)} ${path.name}${i === 0 ? "" : ` vs ${b}`}`,
        chart: path.chart === undefined || (path.chart === "first" && i === 0),
        ratios: Object.fromEntries(
          metrics.flatMap((m) => {
            const byImpl = r.metrics[m.key]
            if (byImpl === undefined || !compares(path, b, m.key)) return []
            const x = ratio(byImpl[path.impl], baseSamples(r, m, b), m.floor)
            return x === undefined ? [] : [[m.key, x]]
          })
        )
      }))
    )
  )

/** Every runtime's ratios side by side: one row per metric, one column per series. */
export const summaryTable = (results: ReadonlyArray<RuntimeResult>): string => {
  const all = series(results)
  const used = metrics.filter((m) => all.some((s) => s.ratios[m.key] !== undefined))
  return table([
    ["ratio (ours / raw, lower is better)", ...all.map((s) => s.label)],
    ...used.map((m) => [m.short(results[0]!.sizes), ...all.map((s) => formatRatio(s.ratios[m.key]))])
  ])
}
