import { describe, expect, it } from "vitest";
import {
  afterEvaluation,
  breakerIsOpen,
  closedBreaker,
  PREDICATE_BREAKER_WINDOW_MS,
} from "../../../src/predicates/breaker";

const t0 = Date.UTC(2026, 10, 26, 9, 0, 0);

describe("predicate breaker", () => {
  it("opens on the third consecutive failure, for five minutes", () => {
    let s = afterEvaluation(closedBreaker, true, t0);
    s = afterEvaluation(s, true, t0 + 1);
    expect(breakerIsOpen(s, t0 + 1)).toBe(false);
    s = afterEvaluation(s, true, t0 + 2);
    expect(s).toEqual({ failures: 3, open_until: t0 + 2 + PREDICATE_BREAKER_WINDOW_MS });
    expect(breakerIsOpen(s, t0 + 2)).toBe(true);
    expect(breakerIsOpen(s, t0 + 2 + PREDICATE_BREAKER_WINDOW_MS - 1)).toBe(true);
  });

  it("closes after its window, and one later failure does not reopen it", () => {
    let s = closedBreaker;
    for (let i = 0; i < 3; i++) s = afterEvaluation(s, true, t0);
    const after = t0 + PREDICATE_BREAKER_WINDOW_MS;
    expect(breakerIsOpen(s, after)).toBe(false);
    s = afterEvaluation(s, true, after);
    expect(s).toEqual({ failures: 1, open_until: null });
    expect(breakerIsOpen(s, after)).toBe(false);
  });

  it("any non-failure resets the count", () => {
    let s = afterEvaluation(afterEvaluation(closedBreaker, true, t0), true, t0);
    s = afterEvaluation(s, false, t0);
    expect(s).toEqual(closedBreaker);
    s = afterEvaluation(afterEvaluation(s, true, t0), true, t0);
    expect(breakerIsOpen(s, t0)).toBe(false);
  });
});
