import { describe, expect, it } from "vitest";
import { flowTopic, gateKeyPart, sanitizeTopicPart } from "../../../src/flow/flow-keys";
import { FLOW_PRIMITIVES } from "../../../src/flow/flow-types";
import { MemoryFlowStore } from "../../../src/flow/memory-flow-store";
import { Harness } from "../../support/flow-harness";
import { scenarios } from "../../support/flow-scenarios";

describe("FlowControl (in-memory store)", () => {
  it.each(scenarios)("%s", (_name, flow, run) => {
    run(new Harness(flow, new MemoryFlowStore()));
  });
});

describe("gate names and topics", () => {
  it("evaluates primitives in SPEC 9 order", () => {
    expect(FLOW_PRIMITIVES).toEqual([
      "batch",
      "debounce",
      "rate_limit",
      "throttle",
      "ordering",
      "singleton",
      "concurrency",
    ]);
  });

  it.each<[string, string]>([
    ["triage@v1:_global", "triage_v1__global"],
    ["a.b-c_d", "a.b-c_d"],
    ["x/y z:é", "x_y_z__"],
    // One underscore per code point, not per UTF-16 unit.
    ["k:😀", "k__"],
  ])("sanitizes %j → %j", (gate, expected) => {
    expect(sanitizeTopicPart(gate)).toBe(expected);
    expect(flowTopic("throttle", gate)).toBe(`trigger.throttle.${expected}`);
  });

  it("keeps keys up to 200 characters and shortens longer ones deterministically", () => {
    expect(gateKeyPart("a".repeat(200))).toBe("a".repeat(200));
    const long = "k".repeat(1000);
    expect(gateKeyPart(long)).toMatch(/^k{160}~[0-9a-f]{16}$/);
    expect(gateKeyPart(long)).toBe(gateKeyPart("k".repeat(1000)));
  });
});

describe("waits survive a new engine over the same store (gate restart)", () => {
  it("a fresh FlowControl picks up throttle and concurrency queues where they were", () => {
    const store = new MemoryFlowStore();
    const flow = { throttle: { period: 1000, max: 1 }, concurrency: { max: 1 } };
    const before = new Harness(flow, store);
    before.arrive("a", {}, 0);
    before.arrive("b", {}, 10);
    const after = new Harness(flow, store);
    expect(after.engine.onTimer("b", 1000)).toMatchObject({ kind: "wait", primitive: "concurrency", until: null });
    expect(after.engine.release("a", 1100).others).toMatchObject([{ dispatch_id: "b", outcome: { kind: "admit" } }]);
  });
});
