/**
 * The chart of a bench run, as SVG written by hand (no dependencies):
 * grouped bars, one group per case, one bar per runtime and path, the
 * height of a bar its ratio to the raw TLS of the same runtime (median of
 * the runs) on a logarithmic axis, drawn from the 1.0x line (parity), a
 * thin line for the spread of the per-run ratios.
 */
import { metrics, type RuntimeResult, series } from "./report.js"

const colors = ["#2f7d32", "#7cb342", "#e65100", "#ffa726", "#8e6bbf", "#4f86c6", "#9e9e9e"]

const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const fixed = (n: number) => Number(n.toFixed(1)).toString()

export const chart = (results: ReadonlyArray<RuntimeResult>, subtitle: ReadonlyArray<string>): string => {
  const all = series(results).filter((s) => s.chart)
  const used = metrics.filter((m) => m.chartless !== true && all.some((s) => s.ratios[m.key] !== undefined))
  const values = all
    .flatMap((s) => Object.values(s.ratios).flatMap((r) => [r.min, r.max, r.ratio]))
    .filter((v) => Number.isFinite(v) && v > 0)
  // Powers of two from at most 0.5x to at least 4x, at most 2^-6 to 2^10.
  const lo = Math.pow(2, Math.max(-6, Math.floor(Math.log2(Math.min(0.5, ...values)))))
  const hi = Math.pow(2, Math.min(10, Math.ceil(Math.log2(Math.max(4, ...values)))))
  const clamp = (v: number) => (Number.isFinite(v) && v > 0 ? Math.min(hi, Math.max(lo, v)) : lo)

  const width = 1000
  const legendRows = Math.ceil(all.length / 3)
  const head = 26 + subtitle.length * 16
  const top = head + 14 + legendRows * 18
  const left = 58
  const right = 16
  const plotHeight = 300
  const bottom = 46
  const height = top + plotHeight + bottom
  const plotWidth = width - left - right
  const y = (v: number) =>
    top + plotHeight * (1 - (Math.log2(clamp(v)) - Math.log2(lo)) / (Math.log2(hi) - Math.log2(lo)))
  const groupWidth = plotWidth / Math.max(1, used.length)
  const barWidth = Math.min(28, (groupWidth * 0.84) / Math.max(1, all.length))

  const out: Array<string> = []
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="600" fill="#222">effect-tls / raw TLS of the same runtime, same run (lower is better; 1.0x = raw)</text>`,
    ...subtitle.map((line, i) => `<text x="${left}" y="${42 + i * 16}" fill="#555">${escape(line)}</text>`)
  )
  // Legend, three to a row.
  all.forEach((s, i) => {
    const x = left + (i % 3) * 310
    const ly = head + 16 + Math.floor(i / 3) * 18
    out.push(
      `<rect x="${x}" y="${ly - 10}" width="12" height="12" fill="${colors[i % colors.length]}"/>`,
      `<text x="${x + 18}" y="${ly}" fill="#222">${escape(s.label)}</text>`
    )
  })
  // Axis: a grid line per power of two.
  for (let v = lo; v <= hi * 1.0001; v *= 2) {
    const gy = fixed(y(v))
    out.push(
      `<line x1="${left}" x2="${width - right}" y1="${gy}" y2="${gy}" stroke="${v === 1 ? "#222" : "#e4e4e4"}" stroke-width="${v === 1 ? 1.5 : 1}"${v === 1 ? ' stroke-dasharray="6 3"' : ""}/>`,
      `<text x="${left - 6}" y="${fixed(y(v) + 4)}" text-anchor="end" fill="#555">${v}x</text>`
    )
  }
  // Bars from the 1.0x line.
  used.forEach((m, g) => {
    const groupX = left + g * groupWidth
    const barsX = groupX + (groupWidth - barWidth * all.length) / 2
    all.forEach((s, i) => {
      const r = s.ratios[m.key]
      const x = barsX + i * barWidth
      if (r === undefined) return
      const y1 = y(1)
      const yr = y(r.ratio)
      out.push(
        `<rect x="${fixed(x + 1)}" y="${fixed(Math.min(y1, yr))}" width="${fixed(barWidth - 2)}" height="${fixed(Math.max(1, Math.abs(yr - y1)))}" fill="${colors[i % colors.length]}"><title>${escape(`${s.label}, ${m.short(results[0]!.sizes)}: ${r.ratio.toFixed(2)}x (runs ${r.min.toFixed(2)}-${r.max.toFixed(2)})`)}</title></rect>`,
        `<line x1="${fixed(x + barWidth / 2)}" x2="${fixed(x + barWidth / 2)}" y1="${fixed(y(r.min))}" y2="${fixed(y(r.max))}" stroke="#333" stroke-width="1"/>`,
        `<text x="${fixed(x + barWidth / 2)}" y="${fixed(r.ratio >= 1 ? Math.min(yr, y(r.max)) - 4 : Math.max(yr, y(r.min)) + 11)}" text-anchor="middle" font-size="9" fill="#222">${r.ratio.toFixed(1)}</text>`
      )
    })
    out.push(
      `<text x="${fixed(groupX + groupWidth / 2)}" y="${top + plotHeight + 20}" text-anchor="middle" fill="#222">${escape(m.short(results[0]!.sizes))}</text>`
    )
  })
  out.push(
    `<text x="${left}" y="${height - 8}" fill="#777" font-size="11">Bars: median of the runs; thin lines: lowest and highest per-run ratio. Each runtime and path against its own raw TLS in the same process run.</text>`,
    `</svg>`,
    ``
  )
  return out.join("\n")
}
