import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../../../src/lib/canonical-json";

describe("canonicalJson", () => {
  it.each<[string, unknown, string]>([
    ["null", null, "null"],
    ["top-level undefined", undefined, "null"],
    ["string", 'a"b\n', '"a\\"b\\n"'],
    ["number", 1.5, "1.5"],
    ["non-finite number", Number.NaN, "null"],
    ["boolean", false, "false"],
    ["empty object", {}, "{}"],
    ["empty array", [], "[]"],
    ["sorted keys", { b: 1, a: 2, c: 3 }, '{"a":2,"b":1,"c":3}'],
    ["nested sorted keys", { z: { y: 1, x: [{ b: 1, a: 2 }] }, a: null }, '{"a":null,"z":{"x":[{"a":2,"b":1}],"y":1}}'],
    ["undefined properties dropped", { a: undefined, b: 1 }, '{"b":1}'],
    ["undefined in arrays becomes null", [undefined, 1], "[null,1]"],
    ["functions dropped", { f: () => 1, a: 1 }, '{"a":1}'],
    ["code-unit key order", { b: 1, B: 2, "10": 3, "9": 4 }, '{"10":3,"9":4,"B":2,"b":1}'],
    ["toJSON honoured", { at: new Date(0) }, '{"at":"1970-01-01T00:00:00.000Z"}'],
    ["array order preserved", [3, 1, 2], "[3,1,2]"],
    ["unicode kept", { k: "é✓" }, '{"k":"é✓"}'],
  ])("%s", (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it("is independent of key insertion order", () => {
    const a = { provider: "github", retry: { policy: "svix", max_attempts: 7 }, events: ["x"] };
    const b = { events: ["x"], retry: { max_attempts: 7, policy: "svix" }, provider: "github" };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
  });

  it("allows shared (non-cyclic) references", () => {
    const shared = { x: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"x":1},"b":{"x":1}}');
  });

  it.each<[string, () => unknown]>([
    [
      "cycles",
      () => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      },
    ],
    ["bigints", () => ({ n: 1n })],
  ])("throws on %s", (_name, make) => {
    expect(() => canonicalJson(make())).toThrow(TypeError);
  });
});

describe("sha256Hex", () => {
  it.each<[string, string]>([
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ])("sha256(%j)", async (text, hex) => {
    expect(await sha256Hex(text)).toBe(hex);
  });

  it("hashes UTF-8 bytes", async () => {
    expect(await sha256Hex("é")).not.toBe(await sha256Hex("e"));
    expect(await sha256Hex("é")).toMatch(/^[0-9a-f]{64}$/);
  });
});
