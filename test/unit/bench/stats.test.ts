import { describe, expect, it } from "vitest";
import { acceptToFirstCall, dueCount, percentile, summarize } from "../../../bench/lib/stats";

describe("percentile (nearest rank)", () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
  it.each([
    [50, 50],
    [95, 95],
    [99, 99],
    [100, 100],
    [0, 1],
    [0.5, 1],
  ])("p%s of 1..100 is %s", (p, expected) => {
    expect(percentile(hundred, p)).toBe(expected);
  });

  it("rounds the rank up on small samples", () => {
    expect(percentile([10, 20, 30], 50)).toBe(20);
    expect(percentile([10, 20, 30], 99)).toBe(30);
    expect(percentile([10, 20, 30, 40], 50)).toBe(20);
    expect(percentile([7], 99)).toBe(7);
  });

  it("is NaN without samples", () => {
    expect(percentile([], 50)).toBeNaN();
    expect(summarize([]).n).toBe(0);
    expect(summarize([]).p99).toBeNaN();
  });

  it("summarize sorts its input and reports the spread", () => {
    expect(summarize([30, 10, 20, 40])).toEqual({ n: 4, min: 10, mean: 25, p50: 20, p95: 40, p99: 40, max: 40 });
  });
});

describe("dueCount (open-loop pacing)", () => {
  it("releases the first send at once and one more every 1000/rate ms", () => {
    expect(dueCount(0, 100, 2000)).toBe(1);
    expect(dueCount(9.9, 100, 2000)).toBe(1);
    expect(dueCount(10, 100, 2000)).toBe(2);
    expect(dueCount(1000, 100, 2000)).toBe(101);
    expect(dueCount(999, 3, 10)).toBe(3);
  });

  it("never exceeds the total and is zero before the start or at no rate", () => {
    expect(dueCount(60_000, 100, 2000)).toBe(2000);
    expect(dueCount(-1, 100, 2000)).toBe(0);
    expect(dueCount(500, 0, 2000)).toBe(0);
  });

  it("does not depend on how often it is polled (no drift)", () => {
    let sent = 0;
    for (let t = 0; t <= 20_000; t += 7) sent = Math.max(sent, dueCount(t, 100, 2000));
    expect(sent).toBe(2000);
    expect(dueCount(19_990, 100, 2000)).toBe(2000);
    expect(dueCount(19_989, 100, 2000)).toBe(1999);
  });
});

describe("acceptToFirstCall", () => {
  const accepted = new Map([
    ["e1", 1000],
    ["e2", 1010],
    ["e3", 1020],
  ]);

  it("pairs each accepted event with its earliest handler call", () => {
    const result = acceptToFirstCall(accepted, [
      { eventId: "e2", at: 1040 },
      { eventId: "e1", at: 1015 },
      { eventId: "e2", at: 1030 },
    ]);
    expect(result.latencies.sort((a, b) => a - b)).toEqual([15, 20]);
    expect(result.missing).toBe(1);
    expect(result.extraCalls).toBe(1);
  });

  it("ignores calls for events it did not accept and calls without an event id", () => {
    const result = acceptToFirstCall(accepted, [
      { eventId: "other", at: 5 },
      { eventId: null, at: 5 },
      { eventId: "e3", at: 1021 },
    ]);
    expect(result).toEqual({ latencies: [1], missing: 2, extraCalls: 0 });
  });
});
