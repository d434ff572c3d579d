import { describe, expect, it } from "vitest";
import type { TriggerEvent } from "../../../src/contracts/events";
import type { AttemptContext } from "../../../src/handlers/envelope";
import { invokePersona, type PersonaRequest, personaRequest } from "../../../src/handlers/persona";
import { flattenPayload, PERSONA_METADATA_LIMITS, personaMetadata } from "../../../src/handlers/persona-metadata";

const event: TriggerEvent = {
  id: "evt_1",
  provider: "github",
  kind: "issues.opened",
  received_at: "2026-01-01T00:00:00.000Z",
  occurred_at: null,
  dedupe_key: "delivery-1",
  trace_id: "trace_abc",
  tenant_id: "acme",
  headers: { "x-github-event": "issues", "content-type": "application/json" },
  payload: { action: "opened", issue: { number: 42, title: "Crash", labels: [{ name: "bug" }] } },
  signature_status: { state: "verified" },
};

const ctx: AttemptContext = {
  dispatch_id: "triage@v1|evt_1",
  binding_key: "triage@v1",
  binding_id: "triage",
  event_id: "evt_1",
  trace_id: "trace_abc",
  attempt: 2,
  replay_of_event_id: null,
  autonomy_tier: "act_with_approval",
  timeout_ms: 200,
  signing_secret: "s",
  handler: "persona://triage-bot",
  binding_version: 1,
  allow_cleartext: false,
  dispatch_priority: "normal",
};

const target = { kind: "persona", uri: "persona://triage-bot", name: "triage-bot" } as const;
const now = () => Date.parse("2026-01-01T00:00:00Z");
const envWith = (persona: unknown) => ({ PERSONA: persona }) as unknown as Env;

describe("personaMetadata (SPEC 12.4)", () => {
  it("flattens identity keys, headers and payload scalars as dotted paths", () => {
    expect(personaMetadata(event)).toEqual({
      truncated: false,
      metadata: {
        trigger_event_id: "evt_1",
        event_id: "evt_1",
        dedupe_key: "delivery-1",
        trace_id: "trace_abc",
        tenant_id: "acme",
        "header.content-type": "application/json",
        "header.x-github-event": "issues",
        action: "opened",
        "issue.number": "42",
        "issue.title": "Crash",
        "issue.labels.0.name": "bug",
      },
    });
  });

  it("omits tenant_id when the event has none", () => {
    expect(personaMetadata({ ...event, tenant_id: null }).metadata).not.toHaveProperty("tenant_id");
  });

  it("never lets a payload field override an identity key or a header", () => {
    const { metadata } = personaMetadata({
      ...event,
      payload: { trace_id: "spoofed", event_id: "spoofed", header: { "x-github-event": "spoofed" }, ok: true },
    });
    expect(metadata).toMatchObject({ trace_id: "trace_abc", event_id: "evt_1", "header.x-github-event": "issues" });
    expect(metadata.ok).toBe("true");
  });

  it.each<[string, unknown, [string, string][]]>([
    [
      "numbers and booleans as JSON text",
      { n: 1.5, big: 1e21, yes: true, no: false },
      [
        ["n", "1.5"],
        ["big", "1e+21"],
        ["yes", "true"],
        ["no", "false"],
      ],
    ],
    ["null, empty objects and empty arrays produce nothing", { a: null, b: {}, c: [] }, []],
    [
      "strings are kept as is",
      { s: "", t: "multi\nline" },
      [
        ["s", ""],
        ["t", "multi\nline"],
      ],
    ],
    [
      "arrays by index, nested arrays too",
      { tags: ["a", "b"], grid: [[1], [2, 3]] },
      [
        ["tags.0", "a"],
        ["tags.1", "b"],
        ["grid.0.0", "1"],
        ["grid.1.0", "2"],
        ["grid.1.1", "3"],
      ],
    ],
    [
      "a top-level array payload is indexed from the root",
      [{ id: 7 }, "x"],
      [
        ["1", "x"],
        ["0.id", "7"],
      ],
    ],
    ["a scalar payload produces nothing", "just text", []],
    ["a null payload produces nothing", null, []],
    [
      "shallow fields come first (breadth-first)",
      { deep: { er: { x: 1 } }, top: 2 },
      [
        ["top", "2"],
        ["deep.er.x", "1"],
      ],
    ],
  ])("flattenPayload: %s", (_name, payload, entries) => {
    expect(flattenPayload(payload)).toEqual({ entries, truncated: false });
  });

  it("stops at the depth limit and says so", () => {
    let nested: unknown = "bottom";
    for (let i = 0; i < 20; i++) nested = { n: nested };
    const flat = flattenPayload({ keep: 1, nested });
    expect(flat.entries).toEqual([["keep", "1"]]);
    expect(flat.truncated).toBe(true);
    const atLimit = flattenPayload({ a: { b: { c: "x" } } }, { ...PERSONA_METADATA_LIMITS, maxDepth: 3 });
    expect(atLimit).toEqual({ entries: [["a.b.c", "x"]], truncated: false });
    const over = flattenPayload({ a: { b: { c: "x" } } }, { ...PERSONA_METADATA_LIMITS, maxDepth: 2 });
    expect(over).toEqual({ entries: [], truncated: true });
  });

  it("caps entries and array items, keeping the shallow fields", () => {
    const limits = { maxDepth: 8, maxPayloadEntries: 3, maxArrayItems: 2 };
    expect(flattenPayload({ a: 1, b: 2, list: [1, 2, 3], c: 3 }, limits)).toEqual({
      entries: [
        ["a", "1"],
        ["b", "2"],
        ["c", "3"],
      ],
      truncated: true,
    });
    expect(flattenPayload({ list: [1, 2, 3] }, limits)).toEqual({
      entries: [
        ["list.0", "1"],
        ["list.1", "2"],
      ],
      truncated: true,
    });
    expect(flattenPayload({ a: 1, b: 2, c: 3 }, limits).truncated).toBe(false);
  });

  it("survives payloads far deeper than the limit without recursion", () => {
    let nested: unknown = 1;
    for (let i = 0; i < 10_000; i++) nested = [nested];
    expect(flattenPayload(nested).truncated).toBe(true);
  });

  it("keeps the default payload part bounded", () => {
    const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
    const { metadata, truncated } = personaMetadata({ ...event, payload: wide });
    expect(truncated).toBe(true);
    expect(Object.keys(metadata).filter((k) => k.startsWith("k"))).toHaveLength(
      PERSONA_METADATA_LIMITS.maxPayloadEntries,
    );
  });
});

describe("personaRequest", () => {
  it("carries the persona, event identity, attempt context and a stable idempotency key", () => {
    const req = personaRequest(ctx, event, "triage-bot", now());
    expect(req).toMatchObject({
      type: "switchyard.persona",
      persona: "triage-bot",
      kind: "issues.opened",
      provider: "github",
      metadata_truncated: false,
      event_id: "evt_1",
      trace_id: "trace_abc",
      trigger_id: "triage",
      binding_key: "triage@v1",
      binding_version: 1,
      attempt: 2,
      replay_of_event_id: null,
      autonomy_tier: "act_with_approval",
      idempotency_key: "triage@v1/evt_1",
      deadline_ms: now() + 200,
      event,
    });
    expect(req.metadata["issue.number"]).toBe("42");
  });
});

describe("invokePersona", () => {
  it("returns the receipt of PERSONA.invoke as the result", async () => {
    const seen: PersonaRequest[] = [];
    const persona = {
      async invoke(req: PersonaRequest) {
        seen.push(req);
        return { accepted: true, at: new Date(0), skipped: undefined };
      },
    };
    const result = await invokePersona({ env: envWith(persona), now }, ctx, event, target);
    expect(result).toEqual({ kind: "success", result: { accepted: true, at: "1970-01-01T00:00:00.000Z" } });
    expect(seen[0]?.persona).toBe("triage-bot");
  });

  it("an undefined receipt is a null result", async () => {
    const persona = { invoke: async () => undefined };
    expect(await invokePersona({ env: envWith(persona), now }, ctx, event, target)).toEqual({
      kind: "success",
      result: null,
    });
  });

  it("a thrown error is retryable with the persona named", async () => {
    const persona = {
      invoke: async () => {
        throw new Error("model overloaded");
      },
    };
    expect(await invokePersona({ env: envWith(persona), now }, ctx, event, target)).toEqual({
      kind: "retryable",
      error: "persona 'triage-bot' failed: model overloaded",
      cause: { kind: "other" },
      retry_after_ms: null,
    });
  });

  it("a synchronous throw is retryable too", async () => {
    const persona = {
      invoke: () => {
        throw new TypeError("The RPC receiver does not implement the method 'invoke'.");
      },
    };
    const result = await invokePersona({ env: envWith(persona), now }, ctx, event, target);
    expect(result).toMatchObject({ kind: "retryable", error: expect.stringContaining("does not implement") });
  });

  it("a receipt JSON cannot hold is a retryable protocol error", async () => {
    const persona = { invoke: async () => ({ n: 1n }) };
    expect(await invokePersona({ env: envWith(persona), now }, ctx, event, target)).toMatchObject({
      kind: "retryable",
      cause: { kind: "protocol" },
      error: expect.stringMatching(/^persona 'triage-bot' returned a receipt that is not JSON: /),
    });
  });

  it("times out after timeout_ms like every handler", async () => {
    const persona = { invoke: () => new Promise(() => {}) };
    const started = Date.now();
    expect(await invokePersona({ env: envWith(persona), now }, { ...ctx, timeout_ms: 50 }, event, target)).toEqual({
      kind: "retryable",
      error: "handler timed out after 50ms",
      cause: { kind: "timeout" },
      retry_after_ms: null,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it("ignores a late rejection after the timeout", async () => {
    const persona = {
      invoke: () => new Promise((_, reject) => setTimeout(() => reject(new Error("late")), 80)),
    };
    const result = await invokePersona({ env: envWith(persona), now }, { ...ctx, timeout_ms: 20 }, event, target);
    expect(result.kind).toBe("retryable");
    await new Promise((r) => setTimeout(r, 100)); // an unhandled rejection would fail the run
  });

  it("stops waiting when the attempt is aborted", async () => {
    const controller = new AbortController();
    const persona = { invoke: () => new Promise(() => {}) };
    const pending = invokePersona({ env: envWith(persona), now, signal: controller.signal }, ctx, event, target);
    controller.abort();
    expect(await pending).toEqual({
      kind: "retryable",
      error: "handler call aborted",
      cause: { kind: "other" },
      retry_after_ms: null,
    });
    let called = false;
    const spy = {
      invoke: async () => {
        called = true;
      },
    };
    expect((await invokePersona({ env: envWith(spy), now, signal: controller.signal }, ctx, event, target)).kind).toBe(
      "retryable",
    );
    expect(called).toBe(false);
  });

  it.each([
    ["missing", undefined],
    ["a string var", "switchyard-persona-standin"],
    ["an object without invoke", {}],
  ])("a %s PERSONA binding is an invalid target", async (_name, binding) => {
    expect(await invokePersona({ env: envWith(binding), now }, ctx, event, target)).toEqual({
      kind: "invalid",
      error: "persona service binding 'PERSONA' is not configured",
    });
  });
});
