// `npm run test:unit`: the pure modules' tests in plain Node (no workerd, no bindings), for the quick loop.
// `npm test` runs them again in workerd together with everything else.
import { defineConfig } from "vitest/config";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "hono/jsx" },
  test: {
    include: ["test/unit/**/*.test.ts"],
    environment: "node",
  },
});
