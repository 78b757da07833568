import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

const src = (pkg: string) => fileURLToPath(new URL(`./packages/${pkg}/src`, import.meta.url))

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@effect-tls\/(core|node|bun)$/, replacement: `${src("$1")}/index.ts` },
      { find: /^@effect-tls\/(core|node|bun)\/(.*)$/, replacement: `${src("$1")}/$2.ts` }
    ]
  },
  test: {
    include: ["packages/*/test/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
