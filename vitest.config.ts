import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

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
      include: ["test/**/*.test.ts"],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
});
