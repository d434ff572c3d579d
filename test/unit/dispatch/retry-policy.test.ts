import { describe, expect, it } from "vitest";
import {
  applyRetryAfter,
  effectiveMaxAttempts,
  parseRetryAfter,
  type RetryPolicy,
  retryDelayMs,
} from "../../../src/dispatch/retry-policy";

const S = 1000;
const M = 60 * S;
const H = 60 * M;

describe("retryDelayMs", () => {
  it.each<[string, RetryPolicy, number[]]>([
    // attempts 1..10
    ["svix", "svix", [0, 5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H, 10 * H, 10 * H]],
    ["linear 250ms", { linear: { delay_ms: 250 } }, [0, 250, 250, 250, 250, 250, 250, 250, 250, 250]],
    ["linear 0", { linear: { delay_ms: 0 } }, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    [
      "exponential base 1000 cap 5000",
      { exponential: { base_ms: 1000, cap_ms: 5000 } },
      [0, 1 * S, 2 * S, 4 * S, 5 * S, 5 * S, 5 * S, 5 * S, 5 * S, 5 * S],
    ],
    [
      "exponential base 100 cap 1h",
      { exponential: { base_ms: 100, cap_ms: H } },
      [0, 100, 200, 400, 800, 1600, 3200, 6400, 12_800, 25_600],
    ],
  ])("%s", (_name, policy, delays) => {
    expect(delays.map((_, i) => retryDelayMs(policy, i + 1))).toEqual(delays);
  });

  it.each<[RetryPolicy, number]>([
    ["svix", 0],
    ["svix", -3],
    [{ linear: { delay_ms: 500 } }, 1],
    [{ exponential: { base_ms: 10, cap_ms: 20 } }, 0],
  ])("attempt ≤ 1 is immediate (%j, %d)", (policy, n) => {
    expect(retryDelayMs(policy, n)).toBe(0);
  });

  it("stays at the cap for the largest attempt counts", () => {
    expect(retryDelayMs({ exponential: { base_ms: 1000, cap_ms: 7_200_000 } }, 100)).toBe(7_200_000);
    expect(retryDelayMs("svix", 100)).toBe(10 * H);
  });
});

describe("applyRetryAfter", () => {
  it.each<[number, number | null, number]>([
    [5000, null, 5000],
    [5000, 1000, 5000],
    [5000, 30_000, 30_000],
    [0, 0, 0],
    [1000, 48 * H, 24 * H],
    [36 * H, 48 * H, 36 * H],
    [1000, -5, 1000],
  ])("delay %d, Retry-After %j → %d", (delay, retryAfter, expected) => {
    expect(applyRetryAfter(delay, retryAfter)).toBe(expected);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.UTC(2026, 0, 1, 12, 0, 0);
  it.each<[string | null, number | null]>([
    [null, null],
    ["", null],
    ["0", 0],
    ["120", 120_000],
    [" 7 ", 7000],
    ["Thu, 01 Jan 2026 12:00:30 GMT", 30_000],
    ["Thu, 01 Jan 2026 11:59:00 GMT", 0],
    ["Thursday, 01-Jan-26 12:01:00 GMT", 60_000],
    ["-5", null],
    ["1.5", null],
    ["soon", null],
    ["2026-01-01T12:00:30Z", null],
    ["Thu, 99 Foo 2026 00:00:00 GMT", null],
  ])("%j → %j", (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });
});

describe("effectiveMaxAttempts", () => {
  it.each<[number | undefined, number]>([
    [undefined, 7],
    [0, 7],
    [-1, 7],
    [Number.NaN, 7],
    [1, 1],
    [7, 7],
    [100, 100],
    [101, 100],
    [3.9, 3],
  ])("%j → %d", (input, expected) => {
    expect(effectiveMaxAttempts(input)).toBe(expected);
  });
});
