import { describe, expect, it } from "vitest";
import {
  CEL_CACHE_LIMIT,
  type CelProgram,
  celCacheSize,
  compileCel,
  evaluateCel,
  type JsonValue,
  keyString,
  positionAt,
  toPlainJson,
} from "../../../src/lib/cel";

const event = {
  id: "evt_1",
  provider: "github",
  kind: "issues.opened",
  payload: {
    customer: "acme",
    tier: "gold",
    count: 3,
    price: 2.5,
    flag: true,
    nothing: null,
    labels: ["bug", "p1"],
    nested: { b: 2, a: [1, "x", null] },
    "a-b": 7,
  },
};

function program(source: string): CelProgram {
  const compiled = compileCel(source);
  if (!compiled.ok) throw new Error(`compile failed: ${compiled.error}`);
  return compiled.program;
}

function run(source: string): ReturnType<typeof evaluateCel> {
  return evaluateCel(program(source), { event });
}

describe("compileCel", () => {
  it.each([
    "event.payload.customer",
    'event.kind == "issues.opened" && event.payload.count > 2',
    "size(event.payload.labels) >= 2",
    'event.payload.labels.exists(l, l == "bug")',
    'event.?payload.?customer.orValue("none")',
    '[1, "mixed"]',
    'event.payload["a-b"]',
  ])("accepts %s", (source) => {
    const result = compileCel(source);
    expect(result.ok).toBe(true);
  });

  it.each<[string, string, { offset: number; line: number; column: number } | undefined]>([
    ["event.", "Expected IDENTIFIER, got EOF", { offset: 6, line: 1, column: 7 }],
    ["1 +", "Unexpected token: EOF", { offset: 3, line: 1, column: 4 }],
    ['"abc', "Unterminated string", { offset: 0, line: 1, column: 1 }],
    ["event.a &&\n  b c", "Unexpected character: 'c'", { offset: 15, line: 2, column: 5 }],
    // Only `event` is declared: other identifiers fail at compile time, not per dispatch.
    ["payload.customer", "Unknown variable: payload", { offset: 0, line: 1, column: 1 }],
    // Type errors the checker can see without data.
    ['1 + "a"', "no such overload: int + string", { offset: 0, line: 1, column: 1 }],
    ["", "expression is empty", undefined],
  ])("rejects %j", (source, error, position) => {
    const result = compileCel(source);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBe(error);
    expect(result.position).toEqual(position);
  });

  it("caches programs by source and stays bounded", () => {
    const a = compileCel("event.payload.tier");
    expect(compileCel("event.payload.tier")).toBe(a);
    for (let i = 0; i < CEL_CACHE_LIMIT + 50; i++) compileCel(`event.payload.count + ${i}.0`);
    expect(celCacheSize()).toBe(CEL_CACHE_LIMIT);
    // The oldest entry was evicted: a fresh result (equal, not identical).
    const again = compileCel("event.payload.tier");
    expect(again).not.toBe(a);
    expect(again.ok).toBe(true);
  });

  it("reports the inferred type", () => {
    expect(program("event.payload.count > 1").type).toBe("bool");
    expect(program('"x"').type).toBe("string");
  });
});

describe("evaluateCel", () => {
  it.each<[string, JsonValue]>([
    ["event.payload.customer", "acme"],
    ["event.payload.flag", true],
    ["event.payload.nothing", null],
    // JSON numbers are CEL doubles; cross-type comparison with int literals works.
    ["event.payload.count", 3],
    ["event.payload.count == 3", true],
    ["event.payload.price > 2", true],
    ["int(event.payload.count) + 1", 4],
    ["event.payload.price * 2.0", 5],
    ["size(event.payload.labels)", 2],
    ["event.payload.nested", { b: 2, a: [1, "x", null] }],
    ['{"k": 1, "j": [true, 2.5]}', { k: 1, j: [true, 2.5] }],
    ["9223372036854775807", "9223372036854775807"],
    ["-9007199254740991", -9007199254740991],
    ["9007199254740992", "9007199254740992"],
    ["1u", 1],
    ['b"hi"', "aGk="],
    ['timestamp("2024-01-01T00:00:00Z")', "2024-01-01T00:00:00.000Z"],
    ['duration("1.5s")', "1.5s"],
    // Negative fractions are formatted here, not by the library's toString (which prints "-10.5s").
    ['duration("-1.5s")', "-1.5s"],
    ['duration("-0.5s")', "-0.5s"],
    ['duration("-90m")', "-5400s"],
    ['duration("1ns")', "0.000000001s"],
    ['timestamp("2024-01-01T00:00:00Z") - timestamp("2024-01-01T00:00:01.25Z")', "-1.25s"],
    ["type(1)", "int"],
    ['event.?payload.?missing.orValue("none")', "none"],
    ["event.?payload.?missing", null],
    ["event.?payload.?customer", "acme"],
    ["1.0 / 0.0", "Infinity"],
    ['event.payload["a-b"]', 7],
  ])("%s → %j", (source, value) => {
    expect(run(source)).toEqual({ ok: true, value });
  });

  it.each<[string, string]>([
    ["event.payload.missing", "No such key: missing"],
    ["event.payload.count + 1", "no such overload: dyn<double> + int"],
    ["9223372036854775807 + 1", "integer overflow: 9223372036854775808"],
    ["1 / 0", "division by zero"],
    ['int("x")', "int() type error: cannot convert to int"],
  ])("%s fails with %j", (source, error) => {
    expect(run(source)).toEqual({ ok: false, error });
  });

  it("fails without throwing when `event` is not provided", () => {
    const result = evaluateCel(program("event.x"), {});
    expect(result.ok).toBe(false);
  });

  it("does not copy or mutate the input", () => {
    const input = { payload: { n: 1 } };
    const frozen = Object.freeze({ payload: Object.freeze({ n: 1 }) });
    expect(evaluateCel(program("event.payload"), { event: input })).toEqual({ ok: true, value: { n: 1 } });
    expect(evaluateCel(program("event.payload.n"), { event: frozen })).toEqual({ ok: true, value: 1 });
  });
});

describe("toPlainJson", () => {
  it.each<[string, unknown, JsonValue]>([
    ["bigint", 42n, 42],
    ["unsafe bigint", 2n ** 60n, "1152921504606846976"],
    ["negative zero", -0, 0],
    ["NaN", Number.NaN, "NaN"],
    ["-Infinity", Number.NEGATIVE_INFINITY, "-Infinity"],
    [
      "Map",
      new Map<unknown, unknown>([
        [1, "a"],
        ["b", 2n],
      ]),
      { "1": "a", b: 2 },
    ],
    ["Set", new Set([1n, "x"]), [1, "x"]],
    ["invalid date", new Date(Number.NaN), null],
    ["undefined", undefined, null],
    ["nested", { a: [1n, { b: new Uint8Array([255]) }] }, { a: [1, { b: "/w==" }] }],
    ["__proto__ key stays data", JSON.parse('{"__proto__": 1}'), JSON.parse('{"__proto__": 1}')],
  ])("%s", (_name, value, expected) => {
    expect(toPlainJson(value)).toEqual(expected);
  });
});

describe("keyString (SPEC 9)", () => {
  it.each<[string, JsonValue, string]>([
    ["null", null, "null"],
    ["string as is", "acme", "acme"],
    ["string with quotes as is", 'a"b', 'a"b'],
    ["empty string", "", ""],
    ["true", true, "true"],
    ["false", false, "false"],
    ["integer", 42, "42"],
    ["double", 2.5, "2.5"],
    ["unsafe int (already a decimal string)", "9223372036854775807", "9223372036854775807"],
    ["array compact", [1, "a", null], '[1,"a",null]'],
    ["object compact, sorted keys", { b: 1, a: { d: [true], c: "x" } }, '{"a":{"c":"x","d":[true]},"b":1}'],
  ])("%s", (_name, value, expected) => {
    expect(keyString(value)).toBe(expected);
  });

  it("names the same gate for objects with different key order", () => {
    expect(keyString({ a: 1, b: 2 })).toBe(keyString({ b: 2, a: 1 }));
  });

  it("stringifies CEL results end to end", () => {
    const key = (source: string) => {
      const result = run(source);
      if (!result.ok) throw new Error(result.error);
      return keyString(result.value);
    };
    expect(key("event.payload.customer")).toBe("acme");
    expect(key("event.payload.count")).toBe("3");
    expect(key("int(event.payload.count)")).toBe("3");
    expect(key("event.payload.flag")).toBe("true");
    expect(key("event.payload.nothing")).toBe("null");
    expect(key("event.payload.nested")).toBe('{"a":[1,"x",null],"b":2}');
  });
});

describe("positionAt", () => {
  it.each<[string, number, { offset: number; line: number; column: number }]>([
    ["abc", 0, { offset: 0, line: 1, column: 1 }],
    ["abc", 3, { offset: 3, line: 1, column: 4 }],
    ["a\nbc", 3, { offset: 3, line: 2, column: 2 }],
    ["a\n", 99, { offset: 2, line: 2, column: 1 }],
  ])("%j @ %d", (source, offset, expected) => {
    expect(positionAt(source, offset)).toEqual(expected);
  });
});
