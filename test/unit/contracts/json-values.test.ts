import { describe, expect, it } from "vitest";
import { boundedJsonSchema, MAX_PAYLOAD_DEPTH, publishEventSchema } from "../../../src/contracts/events";

describe("boundedJsonSchema", () => {
  const schema = boundedJsonSchema("payload");

  it("passes the value on as it arrived, own __proto__ keys included", () => {
    const input = JSON.parse('{"a":{"__proto__":{"x":1}},"b":[{"__proto__":null}]}');
    const out = schema.parse(input);
    expect(out).toBe(input);
    expect(JSON.stringify(out)).toBe('{"a":{"__proto__":{"x":1}},"b":[{"__proto__":null}]}');
  });

  it("refuses values nested deeper than the limit, and non-JSON values", () => {
    const deep = JSON.parse(`${"[".repeat(MAX_PAYLOAD_DEPTH + 1)}${"]".repeat(MAX_PAYLOAD_DEPTH + 1)}`);
    expect(schema.safeParse(deep).error?.issues[0]?.message).toBe(
      `payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`,
    );
    expect(schema.safeParse({ a: () => 1 }).success).toBe(false);
    expect(schema.safeParse(Number.NaN).success).toBe(false);
  });
});

describe("published headers", () => {
  const event = (headers: unknown) => ({ provider: "p", kind: "k", payload: {}, headers });

  it("refuses a header named __proto__ instead of dropping it", () => {
    const result = publishEventSchema.safeParse(event(JSON.parse('{"__proto__":"x","a":"b"}')));
    expect(result.error?.issues.map((i) => i.message)).toContain("header name '__proto__' is not allowed");
  });

  it("keeps ordinary headers", () => {
    expect(publishEventSchema.parse(event({ "X-A": "b" })).headers).toEqual({ "X-A": "b" });
  });
});
