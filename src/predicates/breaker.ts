/**
 * The predicate breaker (SPEC 7): three consecutive predicate failures open it for five minutes;
 * while open, dispatches are skipped with `circuit_open` without evaluating. Any non-failure resets
 * it, and a failure after the window starts a new count. Pure: time is passed in.
 */
export interface BreakerState {
  failures: number;
  /** Epoch ms until which the breaker is open; null when closed. */
  open_until: number | null;
}

export const PREDICATE_BREAKER_THRESHOLD = 3;
export const PREDICATE_BREAKER_WINDOW_MS = 5 * 60_000;

export const closedBreaker: BreakerState = { failures: 0, open_until: null };

export function breakerIsOpen(state: BreakerState, now: number): boolean {
  return state.open_until !== null && now < state.open_until;
}

/** The state after one evaluation that failed (`failed`) or did not. */
export function afterEvaluation(state: BreakerState, failed: boolean, now: number): BreakerState {
  if (!failed) return closedBreaker;
  const expired = state.open_until !== null && now >= state.open_until;
  const failures = (expired ? 0 : state.failures) + 1;
  return {
    failures,
    open_until: failures >= PREDICATE_BREAKER_THRESHOLD ? now + PREDICATE_BREAKER_WINDOW_MS : null,
  };
}
