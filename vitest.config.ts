import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src`, import.meta.url))

/**
 * Effect's default logger prints one line per log call, with the cause's
 * stack trace. The library logs at WARN and below about single connections
 * that failed (a server's handler failed, a resolver failed, a handshake was
 * aborted), which is what many tests do on purpose; those lines are kept off
 * the console, and counted (test/setup/summaryReporter.ts reports the count).
 * ERROR and FATAL lines, and everything else the tests print, still show.
 * EFFECT_TLS_LOGS=1 shows everything.
 */
const showAllLogs = (process.env.EFFECT_TLS_LOGS ?? "") !== ""
const expectedLog = /^timestamp=\S+ level=(WARN|INFO|DEBUG|TRACE) /

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@effect-tls\/(core|node|bun|cli)$/, replacement: `${src("$1")}/index.ts` },
      { find: /^@effect-tls\/(core|node|bun|cli)\/(.*)$/, replacement: `${src("$1")}/$2.ts` }
    ]
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ["default", "./test/setup/summaryReporter.ts"],
    onConsoleLog(log) {
      if (showAllLogs || !expectedLog.test(log)) return undefined
      const counter = globalThis as { __effectTlsHiddenLogs?: number }
      counter.__effectTlsHiddenLogs = (counter.__effectTlsHiddenLogs ?? 0) + 1
      return false
    }
  }
})
