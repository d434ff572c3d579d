/**
 * Scale of a reliability run. `npm run test:reliability` provides it from RELIABILITY_EVENTS and
 * RELIABILITY_SEED (vitest.reliability.config.ts); under the default `npm test` the run is CI-sized.
 */
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    reliability?: { events?: number; seed?: number; parallel?: number; faults?: boolean };
  }
}

/** Events of a run under the default `npm test`: small enough for CI on two cores. */
export const CI_EVENTS = 150;

export interface Scale {
  events: number;
  seed: number;
  /** Intake requests in flight at once. */
  parallel: number;
  /** Whether to redeliver messages and evict gates while events flow (off only to compare). */
  faults: boolean;
}

export function scale(): Scale {
  const provided = inject("reliability") ?? {};
  const seed = provided.seed ?? crypto.getRandomValues(new Uint32Array(1))[0] ?? 1;
  return {
    events: provided.events ?? CI_EVENTS,
    seed,
    parallel: provided.parallel ?? 8,
    faults: provided.faults ?? true,
  };
}
