/**
 * A vitest reporter that prints nothing per test. At the end of a run it
 * counts passed, failed and skipped tests, collects the notes of tests that
 * skipped themselves with one (`ctx.skip(note)`: an optional peer such as
 * gnutls-cli is missing) and the number of library log lines that
 * vitest.config.ts kept off the console.
 *
 * With EFFECT_TLS_SUMMARY=FILE it writes that as JSON to FILE (what
 * scripts/test-matrix.mjs reads for its summary per runtime); without, it
 * prints one line about hidden log lines, if there were any.
 */
import { writeFileSync } from "node:fs"
import type { Reporter, SerializedError, TestModule, TestRunEndReason } from "vitest/node"

export interface Summary {
  readonly passed: number
  readonly failed: number
  readonly skipped: number
  /** Test files that failed outside any test (a collection error, a failing hook). */
  readonly failedFiles: number
  readonly unhandledErrors: number
  /** Skip notes, with how many tests gave each. */
  readonly notes: ReadonlyArray<readonly [string, number]>
  readonly hiddenLogs: number
  readonly reason: TestRunEndReason
  /** Each failed test: its file, its full name and the first line of its first error. */
  readonly failures: ReadonlyArray<{ readonly file: string; readonly name: string; readonly error: string }>
}

const hiddenLogs = () => (globalThis as { __effectTlsHiddenLogs?: number }).__effectTlsHiddenLogs ?? 0

export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason
  ) {
    let passed = 0
    let failed = 0
    let skipped = 0
    let failedFiles = 0
    const notes = new Map<string, number>()
    const failures: Array<Summary["failures"][number]> = []
    for (const module of testModules) {
      let failedHere = 0
      for (const test of module.children.allTests()) {
        const result = test.result()
        if (result.state === "passed") passed++
        else if (result.state === "failed") {
          failed++
          failedHere++
          const first = result.errors?.[0]
          failures.push({
            file: module.moduleId.replace(process.cwd() + "/", ""),
            name: test.fullName,
            error: (first?.message ?? "").split("\n")[0].slice(0, 300)
          })
        } else if (result.state === "skipped") {
          skipped++
          if (result.note !== undefined) notes.set(result.note, (notes.get(result.note) ?? 0) + 1)
        }
      }
      if (module.state() === "failed" && failedHere === 0) failedFiles++
    }
    const summary: Summary = {
      passed,
      failed,
      skipped,
      failedFiles,
      unhandledErrors: unhandledErrors.length,
      notes: [...notes],
      hiddenLogs: hiddenLogs(),
      reason,
      failures
    }
    const file = process.env.EFFECT_TLS_SUMMARY
    if (file !== undefined && file !== "") writeFileSync(file, JSON.stringify(summary))
    else if (summary.hiddenLogs > 0) {
      console.log(
        ` ${summary.hiddenLogs} library log line(s) at WARN or below were not shown (EFFECT_TLS_LOGS=1 shows them)`
      )
    }
  }
}
