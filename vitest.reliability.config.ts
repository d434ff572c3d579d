/**
 * `npm run test:reliability`: the reliability suite at full scale. Same Workers pool and bindings
 * as vitest.config.ts; scale from RELIABILITY_EVENTS (default 2000), RELIABILITY_SEED (default
 * random, printed), RELIABILITY_PARALLEL (intake requests in flight, default 8) and
 * RELIABILITY_FAULTS=0 (no injected faults, to compare timings).
 */
import { defineConfig, mergeConfig } from "vitest/config";
import base from "./vitest.config.ts";

const numberFrom = (name: string): number | undefined => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got '${raw}'`);
  return n;
};

export default defineConfig(async (configEnv) => {
  const resolved = await (typeof base === "function" ? base(configEnv) : base);
  const merged = mergeConfig(resolved, {
    test: {
      testTimeout: 1_800_000,
      hookTimeout: 120_000,
      provide: {
        reliability: {
          events: numberFrom("RELIABILITY_EVENTS") ?? 2000,
          seed: numberFrom("RELIABILITY_SEED"),
          parallel: numberFrom("RELIABILITY_PARALLEL"),
          faults: process.env.RELIABILITY_FAULTS !== "0",
        },
      },
    },
  });
  // mergeConfig concatenates arrays: replace the include list instead.
  merged.test = { ...merged.test, include: ["test/reliability/**/*.test.ts"] };
  return merged;
});
