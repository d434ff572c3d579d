import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Test files whose assertions cover the whole database (lists, counters, retention sweeps, upgrades). */
const FRESH_STORAGE = [
  "test/integration/bindings/apply.test.ts",
  "test/integration/bindings/versioning.test.ts",
  "test/integration/dispatch/stats.test.ts",
  "test/integration/dispatch/sweep.test.ts",
  "test/integration/history/**/*.test.ts",
  "test/integration/observability/**/*.test.ts",
  "test/integration/upgrade/**/*.test.ts",
  "test/fuzz/**/*.test.ts",
  "test/reliability/**/*.test.ts",
];

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.jsonc" },
        miniflare: {
          bindings: {
            ADMIN_TOKEN: "test-admin-token",
            // Source and signing secrets are sealed under this key in tests (SPEC 16).
            SECRETS_KEY: "dGVzdC1zZWNyZXRzLWtleS0zMi1ieXRlcy1sb25nISE=",
            ALLOW_PRIVATE_TARGETS: "true",
            WORKER_PUSH_BINDINGS: JSON.stringify({ "pushed-jobs": "ECHO" }),
            TEST_MIGRATIONS: migrations,
          },
          // PERSONA repeats wrangler.jsonc's binding so it names the auxiliary worker below explicitly.
          serviceBindings: { ECHO: "aux-echo", PERSONA: "switchyard-persona-standin" },
          workers: [
            {
              name: "aux-echo",
              modules: true,
              scriptPath: "./test/support/aux-echo-worker.js",
              compatibilityDate: "2026-08-01",
            },
            {
              // The persona stand-in is plain JS so miniflare loads the deployable source as is.
              name: "switchyard-persona-standin",
              modules: true,
              scriptPath: "./workers/persona-standin/index.js",
              compatibilityDate: "2026-08-01",
            },
          ],
        },
      }),
    ],
    test: {
      globalSetup: ["./test/support/global-setup.ts"],
      setupFiles: ["./test/support/apply-migrations.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
      projects: [
        // Most files name their own bindings, sources and events, so they share one workerd process
        // (and its storage) per test worker: starting a process per file would triple the run time.
        {
          extends: true as const,
          test: { name: "shared", include: ["test/**/*.test.ts"], exclude: FRESH_STORAGE, isolate: false },
        },
        // Files that count, list or sweep everything in the database need storage of their own.
        { extends: true as const, test: { name: "fresh", include: FRESH_STORAGE } },
      ],
    },
  };
});
