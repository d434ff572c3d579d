/** Failed-login slow-down (SPEC 16), pure: free failures, the doubling wait, the window, the client key. */
import { describe, expect, it } from "vitest";
import {
  FAILURE_WINDOW_MS,
  FREE_FAILURES,
  lockedUntil,
  loginClient,
  MAX_WAIT_MS,
  retryAfterSeconds,
  waitAfter,
} from "../../../src/console/login-throttle";

describe("login throttle", () => {
  it("the first failures are free, then the wait doubles from 1 s to 15 minutes", () => {
    expect(FREE_FAILURES).toBe(5);
    expect([1, 2, 3, 4].map(waitAfter)).toEqual([0, 0, 0, 0]);
    expect([5, 6, 7, 8].map(waitAfter)).toEqual([1_000, 2_000, 4_000, 8_000]);
    expect(waitAfter(30)).toBe(MAX_WAIT_MS);
  });

  it("a client is locked until its last failure plus the wait it earned", () => {
    const now = 1_000_000;
    expect(lockedUntil(null, now)).toBeNull();
    expect(lockedUntil({ failures: 4, last_failure_at: now }, now)).toBeNull();
    expect(lockedUntil({ failures: 6, last_failure_at: now - 500 }, now)).toBe(now + 1_500);
    expect(lockedUntil({ failures: 6, last_failure_at: now - 2_000 }, now)).toBeNull();
    // Failures older than the window are forgotten.
    expect(lockedUntil({ failures: 40, last_failure_at: now - FAILURE_WINDOW_MS - 1 }, now)).toBeNull();
    expect(retryAfterSeconds(now + 1_500, now)).toBe(2);
    expect(retryAfterSeconds(now + 10, now)).toBe(1);
  });

  it("a client is its connecting IP, or one shared key", () => {
    const headers = (value: string | null) => ({ get: () => value });
    expect(loginClient(headers("203.0.113.9"))).toBe("203.0.113.9");
    expect(loginClient(headers("2001:db8::1"))).toBe("2001:db8::1");
    expect(loginClient(headers(null))).toBe("unknown");
    expect(loginClient(headers("<script>"))).toBe("unknown");
  });
});
