import { describe, expect, it } from "vitest";
import { type Bucket, type BucketConfig, refill, retryAfterSeconds, takeFrom } from "../../../src/intake/token-bucket";

const CONFIG: BucketConfig = { capacity: 100, refillPerSec: 10 };
const T0 = 1_700_000_000_000;

describe("refill", () => {
  it.each([
    { name: "a new bucket starts full", bucket: null, now: T0, want: { tokens: 100, updatedAt: T0 } },
    {
      name: "adds refillPerSec per second",
      bucket: { tokens: 0, updatedAt: T0 },
      now: T0 + 2_000,
      want: { tokens: 20, updatedAt: T0 + 2_000 },
    },
    {
      name: "adds fractions for partial seconds",
      bucket: { tokens: 1, updatedAt: T0 },
      now: T0 + 250,
      want: { tokens: 3.5, updatedAt: T0 + 250 },
    },
    {
      name: "caps at capacity",
      bucket: { tokens: 95, updatedAt: T0 },
      now: T0 + 60_000,
      want: { tokens: 100, updatedAt: T0 + 60_000 },
    },
    {
      name: "no time passed, no change",
      bucket: { tokens: 7, updatedAt: T0 },
      now: T0,
      want: { tokens: 7, updatedAt: T0 },
    },
    {
      name: "a clock going backwards adds nothing",
      bucket: { tokens: 7, updatedAt: T0 },
      now: T0 - 5_000,
      want: { tokens: 7, updatedAt: T0 - 5_000 },
    },
    {
      name: "a deficit refills towards zero first",
      bucket: { tokens: -50, updatedAt: T0 },
      now: T0 + 1_000,
      want: { tokens: -40, updatedAt: T0 + 1_000 },
    },
  ])("$name", ({ bucket, now, want }) => {
    expect(refill(bucket, CONFIG, now)).toEqual(want);
  });

  it("does not mutate its input", () => {
    const bucket: Bucket = { tokens: 1, updatedAt: T0 };
    refill(bucket, CONFIG, T0 + 1_000);
    expect(bucket).toEqual({ tokens: 1, updatedAt: T0 });
  });
});

describe("retryAfterSeconds", () => {
  it.each([
    { name: "tokens available → still at least 1", tokens: 50, needed: 1, want: 1 },
    { name: "empty, one token at 10/s", tokens: 0, needed: 1, want: 1 },
    { name: "fraction short rounds up", tokens: 0.99, needed: 1, want: 1 },
    { name: "deficit of 25 at 10/s → 3 s", tokens: -24, needed: 1, want: 3 },
    { name: "exact multiple", tokens: -19, needed: 1, want: 2 },
    { name: "needing more tokens waits longer", tokens: 0, needed: 40, want: 4 },
  ])("$name", ({ tokens, needed, want }) => {
    const seconds = retryAfterSeconds({ tokens, updatedAt: T0 }, CONFIG, needed);
    expect(seconds).toBe(want);
    expect(Number.isInteger(seconds)).toBe(true);
  });

  it("is a whole number ≥ 1 for fast refill rates", () => {
    expect(retryAfterSeconds({ tokens: 0, updatedAt: T0 }, { capacity: 4096, refillPerSec: 1024 })).toBe(1);
    expect(retryAfterSeconds({ tokens: -4096, updatedAt: T0 }, { capacity: 4096, refillPerSec: 1024 })).toBe(5);
  });
});

describe("takeFrom", () => {
  const b = (tokens: number): Bucket => ({ tokens, updatedAt: T0 });

  it.each([
    { name: "grants what is wanted when every bucket has it", buckets: [50, 20], want: 16, granted: 16, left: [34, 4] },
    { name: "grants the smallest bucket's whole tokens", buckets: [50, 5.5], want: 16, granted: 5, left: [45, 0.5] },
    { name: "grants nothing when one bucket is empty", buckets: [0, 1000], want: 16, granted: 0, left: [0, 1000] },
    { name: "grants nothing below one whole token", buckets: [0.99, 10], want: 1, granted: 0, left: [0.99, 10] },
    { name: "grants nothing from a deficit", buckets: [-3, 10], want: 1, granted: 0, left: [-3, 10] },
    { name: "want 0 takes nothing", buckets: [5, 5], want: 0, granted: 0, left: [5, 5] },
    { name: "a single bucket", buckets: [3], want: 16, granted: 3, left: [0] },
  ])("$name", ({ buckets, want, granted, left }) => {
    const result = takeFrom(buckets.map(b), want);
    expect(result.granted).toBe(granted);
    expect(result.buckets.map((x) => x.tokens)).toEqual(left);
    expect(result.buckets.every((x) => x.updatedAt === T0)).toBe(true);
  });

  it("does not mutate its inputs", () => {
    const input = [b(10), b(10)];
    takeFrom(input, 4);
    expect(input.map((x) => x.tokens)).toEqual([10, 10]);
  });

  it("drains a bucket after refill and take over time (a steady 10/s admits about 10 per second)", () => {
    let bucket: Bucket = refill(null, CONFIG, T0);
    let admitted = 0;
    // 300 requests, one every 10 ms for 3 s: capacity 100 + ~30 refilled.
    for (let i = 0; i < 300; i++) {
      bucket = refill(bucket, CONFIG, T0 + i * 10);
      const taken = takeFrom([bucket], 1);
      bucket = taken.buckets[0] as Bucket;
      admitted += taken.granted;
    }
    expect(admitted).toBeGreaterThanOrEqual(128);
    expect(admitted).toBeLessThanOrEqual(131);
  });
});
