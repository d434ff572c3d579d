import { describe, expect, it } from "vitest";
import { boundedDuration, durationSchema, parseDuration } from "../../../src/contracts/duration";

describe("parseDuration", () => {
  it.each<[string | number, number]>([
    [0, 0],
    [1500, 1500],
    ["0ms", 0],
    ["500ms", 500],
    ["5s", 5_000],
    ["5m", 300_000],
    ["2h", 7_200_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["250", 250],
  ])("%j → %d ms", (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  it.each<string | number>([
    -1,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    "",
    "5 s",
    " 5s",
    "5sec",
    "5S",
    "1.5s",
    "-5s",
    "s",
    "5y",
    "99999999999999w",
  ])("%j → null", (input) => {
    expect(parseDuration(input)).toBeNull();
  });
});

describe("durationSchema", () => {
  it.each<[unknown, number]>([
    [30_000, 30_000],
    ["30s", 30_000],
    ["1w", 604_800_000],
  ])("parses %j", (input, ms) => {
    expect(durationSchema.parse(input)).toBe(ms);
  });

  it.each<[unknown, string]>([
    ["x", "invalid duration 'x': use milliseconds or <n>ms|s|m|h|d|w"],
    ["5 minutes", "invalid duration '5 minutes': use milliseconds or <n>ms|s|m|h|d|w"],
    [-5, "invalid duration -5: use milliseconds or <n>ms|s|m|h|d|w"],
    [2.5, "invalid duration 2.5: use milliseconds or <n>ms|s|m|h|d|w"],
    [true, "expected a duration: use milliseconds or <n>ms|s|m|h|d|w"],
    [null, "expected a duration: use milliseconds or <n>ms|s|m|h|d|w"],
  ])("rejects %j", (input, message) => {
    const r = durationSchema.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.message)).toEqual([message]);
  });
});

describe("boundedDuration", () => {
  const attemptTimeout = boundedDuration({ min: 1, max: 900_000 });
  it.each<[unknown, number | string]>([
    ["1ms", 1],
    ["15m", 900_000],
    [0, "duration must be between 1ms and 15m"],
    ["16m", "duration must be between 1ms and 15m"],
    ["nope", "invalid duration 'nope': use milliseconds or <n>ms|s|m|h|d|w"],
  ])("%j → %j", (input, expected) => {
    const r = attemptTimeout.safeParse(input);
    if (typeof expected === "number") expect(r.data).toBe(expected);
    else expect(r.error?.issues.map((i) => i.message)).toEqual([expected]);
  });

  it("names only the lower bound when there is no upper bound", () => {
    expect(boundedDuration({ min: 1 }).safeParse(0).error?.issues[0]?.message).toBe("duration must be at least 1ms");
  });
});
