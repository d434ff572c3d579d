/**
 * Run settings of the property tests. `npm test` runs them with a small bounded number of runs;
 * `npm run test:fuzz` raises it through `VITE_FUZZ_RUNS` (Vite hands `VITE_*` variables to code
 * running inside workerd as `import.meta.env`). A failure prints the seed and the fast-check path,
 * so `VITE_FUZZ_SEED=<seed> npx vitest run test/fuzz/<file>` replays it.
 */
import fc from "fast-check";

const viteEnv = (import.meta as unknown as { env?: Record<string, string | undefined> }).env ?? {};

function intFrom(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : fallback;
}

/** Multiplier of every property's base run count (1 under `npm test`). */
const RUNS_SCALE = intFrom(viteEnv.VITE_FUZZ_RUNS, 1);
/** Fixed unless overridden, so a failure found in CI reproduces locally. */
export const FUZZ_SEED = intFrom(viteEnv.VITE_FUZZ_SEED, 0x5eed_2026);

/** Runs of a property: `base` by default, `base × VITE_FUZZ_RUNS` under `npm run test:fuzz`. */
export function runs(base: number): number {
  return base * RUNS_SCALE;
}

/** Timeout for a property test: generous for the raised run counts of `npm run test:fuzz`. */
export function timeoutFor(base: number, msPerRun = 400): number {
  return Math.max(30_000, runs(base) * msPerRun);
}

/**
 * `fc.assert` with the fixed seed; a failure is rethrown with the seed and path up front so the
 * counterexample can be replayed exactly.
 */
export async function fuzz<T>(property: fc.IAsyncProperty<T>, numRuns: number): Promise<void> {
  try {
    await fc.assert(property, { numRuns, seed: FUZZ_SEED, endOnFailure: false });
  } catch (error) {
    const cause = error instanceof Error && error.cause !== undefined ? `\ncaused by: ${textOf(error.cause)}` : "";
    throw new Error(
      `fuzz failure — replay with VITE_FUZZ_SEED=${FUZZ_SEED} (numRuns ${numRuns})\n${shorten(textOf(error))}${shorten(cause)}`,
    );
  }
}

function textOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Long runs of one character (huge generated strings) are shown as `<c × n>`. */
function shorten(text: string): string {
  return text.replace(/(.)\1{63,}/gsu, (run, char: string) => `<${JSON.stringify(char)} × ${run.length}>`);
}
