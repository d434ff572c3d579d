import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, BASE, unique } from "../../support/api";

const handlerUrl = "https://hooks.example.com/in";
const valid = { provider: "github", handler: handlerUrl };
const BAD_DURATION = (d: string) => `invalid duration '${d}': use milliseconds or <n>ms|s|m|h|d|w`;

type Problem = { path: string; message: string };

/** PUTs `body` to a fresh id, expects a 400 validation error and that nothing was written. */
async function rejected(body: unknown): Promise<Problem[]> {
  const id = unique("invalid");
  const res = await api("PUT", `/v1/bindings/${id}`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(400);
  expect(res.body.error.code).toBe("validation_failed");
  expect(typeof res.body.error.message).toBe("string");
  expect(Array.isArray(res.body.error.details.problems)).toBe(true);
  for (const p of res.body.error.details.problems) {
    expect(typeof p.path).toBe("string");
    expect(typeof p.message).toBe("string");
  }
  expect((await api("GET", `/v1/bindings/${id}`)).status).toBe(404);
  expect((await api("GET", `/v1/bindings/${id}/signing-secret`)).status).toBe(404);
  return res.body.error.details.problems;
}

describe("PUT /v1/bindings/:id validation (SPEC 5.1)", () => {
  it.each<[string, Record<string, unknown>, Problem[]]>([
    ["unknown top-level key", { ...valid, hanlder: "x" }, [{ path: "hanlder", message: "unknown field 'hanlder'" }]],
    [
      "unknown nested key",
      { ...valid, retry: { max_attempts: 3, backoff: "fast" } },
      [{ path: "retry.backoff", message: "unknown field 'backoff'" }],
    ],
    [
      "unknown key inside a flow-control primitive",
      { ...valid, flow_control: { concurrency: { max: 1, limit: 2 } } },
      [{ path: "flow_control.concurrency.limit", message: "unknown field 'limit'" }],
    ],
    ["empty handler", { ...valid, handler: "" }, [{ path: "handler", message: "handler URI cannot be empty" }]],
    [
      "worker handler without a target",
      { ...valid, handler: "worker://" },
      [{ path: "handler", message: "worker handler URI target cannot be empty" }],
    ],
    [
      "a2a handler without a target",
      { ...valid, handler: "a2a://" },
      [{ path: "handler", message: "a2a handler URI target cannot be empty" }],
    ],
    [
      "persona handler without a target",
      { ...valid, handler: "persona://" },
      [{ path: "handler", message: "persona handler URI target cannot be empty" }],
    ],
    [
      "service handler without a target",
      { ...valid, handler: "service://" },
      [{ path: "handler", message: "service handler URI target cannot be empty" }],
    ],
    [
      "unsupported scheme",
      { ...valid, handler: "ftp://files.example.com/in" },
      [{ path: "handler", message: "unsupported handler URI scheme 'ftp'" }],
    ],
    [
      "bad duration string",
      { ...valid, timeout_ms: "5 minutes" },
      [{ path: "timeout_ms", message: BAD_DURATION("5 minutes") }],
    ],
    [
      "bad duration inside a retry policy",
      { ...valid, retry: { policy: { linear: { delay_ms: "soon" } } } },
      [{ path: "retry.policy.linear.delay_ms", message: BAD_DURATION("soon") }],
    ],
    [
      "batch combined with rate_limit",
      { ...valid, flow_control: { batch: { size: 10, timeout: "5s" }, rate_limit: { period: "1m", max: 5 } } },
      [{ path: "flow_control.batch", message: "batch cannot be combined with other flow-control primitives" }],
    ],
    [
      "priority without concurrency",
      { ...valid, flow_control: { priority: { key: "event.payload.tier", order: ["gold"] } } },
      [{ path: "flow_control.priority", message: "priority requires concurrency" }],
    ],
    [
      "max_attempts above 100",
      { ...valid, retry: { max_attempts: 101 } },
      [{ path: "retry.max_attempts", message: "must be at most 100" }],
    ],
    ["missing provider", { handler: handlerUrl }, [{ path: "provider", message: "required field is missing" }]],
    ["missing handler", { provider: "github" }, [{ path: "handler", message: "required field is missing" }]],
  ])("%s → 400 naming the problem", async (_name, body, expected) => {
    expect(await rejected(body)).toEqual(expected);
  });

  it("lists every problem of one spec at once", async () => {
    const problems = await rejected({
      provider: "github",
      handler: "",
      colour: "blue",
      timeout_ms: "5 minutes",
      when: { classifier: "worker://", extra: true },
      retry: { max_attempts: 101, jitter: true },
      flow_control: {
        batch: { size: 10, timeout: "5s" },
        rate_limit: { period: "1m", max: 5 },
        priority: { key: "event.payload.tier", order: ["gold"] },
      },
    });
    const expected: Problem[] = [
      { path: "colour", message: "unknown field 'colour'" },
      { path: "handler", message: "handler URI cannot be empty" },
      { path: "timeout_ms", message: BAD_DURATION("5 minutes") },
      { path: "when.classifier", message: "worker handler URI target cannot be empty" },
      { path: "when.extra", message: "unknown field 'extra'" },
      { path: "retry.max_attempts", message: "must be at most 100" },
      { path: "retry.jitter", message: "unknown field 'jitter'" },
      { path: "flow_control.batch", message: "batch cannot be combined with other flow-control primitives" },
      { path: "flow_control.priority", message: "priority requires concurrency" },
    ];
    for (const p of expected) expect(problems).toContainEqual(p);
    expect(problems).toHaveLength(expected.length);
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["an array", [valid]],
    // api() sends strings raw, so a JSON string body is written out.
    ["a string", JSON.stringify("github")],
    ["a number", 42],
    ["events as a string", { ...valid, events: "issues.opened" }],
    ["an empty event kind", { ...valid, events: [""] }],
    ["handler as a number", { ...valid, handler: 5 }],
    ["retry null", { ...valid, retry: null }],
    ["retry policy unknown", { ...valid, retry: { policy: "fibonacci" } }],
    ["flow_control as an array", { ...valid, flow_control: [] }],
    ["circuit as a string", { ...valid, circuit: "open" }],
    ["circuit mode unknown", { ...valid, circuit: { mode: "explode" } }],
    ["negative timeout", { ...valid, timeout_ms: -1 }],
    ["fractional timeout", { ...valid, timeout_ms: 1.5 }],
    ["huge timeout", { ...valid, timeout_ms: 1e300 }],
    ["duration overflow", { ...valid, timeout_ms: "99999999999999999999w" }],
    ["bad provider", { ...valid, provider: "GitHub!" }],
    ["bad tenant id", { ...valid, tenant_id: "a b" }],
    ["tenant id as a number", { ...valid, tenant_id: 7 }],
    ["empty when", { ...valid, when: "   " }],
    ["when as a number", { ...valid, when: 1 }],
    ["budget strategy unknown", { ...valid, budget: { on_exhausted: "panic" } }],
    ["autonomy tier unknown", { ...valid, autonomy: { tier: "god" } }],
    ["dispatch_priority unknown", { ...valid, dispatch_priority: "urgent" }],
    ["allow_cleartext as a string", { ...valid, allow_cleartext: "yes" }],
    ["http handler without a host", { ...valid, handler: "https:///path" }],
    ["handler with whitespace", { ...valid, handler: "https://example.com/a b" }],
    ["exponential cap below base", { ...valid, retry: { policy: { exponential: { base_ms: 10, cap_ms: 1 } } } }],
    [
      "priority with an empty order",
      { ...valid, flow_control: { concurrency: { max: 1 }, priority: { key: "event.payload.k", order: [] } } },
    ],
  ])("%s → 400, never 500", async (_name, body) => {
    const problems = await rejected(body);
    expect(problems.length).toBeGreaterThan(0);
  });

  it("rejects a spec too large to store (64 KiB) → 400, and accepts one just under it", async () => {
    const big = Array.from({ length: 700 }, (_, i) => `kind.${i}.${"x".repeat(100)}`);
    const problems = await rejected({ ...valid, events: big });
    expect(problems).toEqual([
      { path: "", message: expect.stringMatching(/^spec is too large: \d+ bytes \(max 65536\)$/) },
    ]);
    const res = await api("PUT", `/v1/bindings/${unique("roomy")}`, { ...valid, events: big.slice(0, 500) });
    expect(res.status).toBe(201);
    expect(res.body.spec.events).toHaveLength(500);
  });

  it("accepts every valid handler scheme", async () => {
    for (const handler of [
      handlerUrl,
      "http://127.0.0.1:9/in",
      "service://ECHO/path",
      "a2a://agents.example.com/triage",
      "worker://jobs",
      "persona://reviewer",
    ]) {
      const res = await api("PUT", `/v1/bindings/${unique("scheme")}`, { provider: "github", handler });
      expect(res.status, `${handler}: ${JSON.stringify(res.body)}`).toBe(201);
      expect(res.body.spec.handler).toBe(handler);
    }
  });
});

describe("PUT /v1/bindings/:id request errors", () => {
  it.each<[string, string]>([
    ["leading punctuation", "-leading-dash"],
    ["a space", "has%20space"],
    ["a slash", "a%2Fb"],
    ["an at sign", "a%40v1"],
    ["129 characters", "a".repeat(129)],
  ])("rejects an id with %s in the path → 400", async (_name, id) => {
    const res = await api("PUT", `/v1/bindings/${id}`, valid);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.details.problems[0].path).toBe("");
    expect((await api("GET", `/v1/bindings/${id}`)).status).toBe(400);
  });

  it("accepts the longest and the punctuated valid ids", async () => {
    for (const id of [`${"a".repeat(127)}Z`, "A.b_c-9", "0"]) {
      const res = await api("PUT", `/v1/bindings/${id}`, valid);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.binding_key).toBe(`${id}@v1`);
    }
  });

  it("rejects a malformed percent-encoding in the id without a 500", async () => {
    const res = await api("PUT", "/v1/bindings/%E0%A4%A", valid);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });

  it("rejects a body that is not JSON → 400", async () => {
    const id = unique("nojson");
    const res = await api("PUT", `/v1/bindings/${id}`, "{provider: github");
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("bad_request");
    expect(res.body.error.message).toMatch(/not valid JSON/);
    expect((await api("GET", `/v1/bindings/${id}`)).status).toBe(404);
  });

  it("rejects an empty body → 400", async () => {
    const id = unique("empty");
    const res = await exports.default.fetch(`${BASE}/v1/bindings/${id}`, {
      method: "PUT",
      headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" },
    });
    expect(res.status).toBe(400);
    expect((await api("GET", `/v1/bindings/${id}`)).status).toBe(404);
  });

  it("rejects a non-JSON content type → 415", async () => {
    const id = unique("text");
    const res = await api("PUT", `/v1/bindings/${id}`, JSON.stringify(valid), { "content-type": "text/plain" });
    expect(res.status).toBe(415);
    expect((await api("GET", `/v1/bindings/${id}`)).status).toBe(404);
  });

  it("requires a bearer token → 401, and writes nothing", async () => {
    const id = unique("noauth");
    for (const authorization of ["", "Bearer wrong-token", "Basic dGVzdA==", "Bearer"]) {
      const res = await api("PUT", `/v1/bindings/${id}`, valid, { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.body.error.code).toBe("unauthorized");
    }
    for (const [method, path] of [
      ["GET", "/v1/bindings"],
      ["GET", `/v1/bindings/${id}`],
      ["DELETE", `/v1/bindings/${id}`],
      ["POST", `/v1/bindings/${id}/pause`],
      ["GET", `/v1/bindings/${id}/signing-secret`],
      ["POST", "/v1/bindings:apply"],
    ] as const) {
      const res = await exports.default.fetch(`${BASE}${path}`, { method });
      expect(res.status, `${method} ${path}`).toBe(401);
    }
    expect((await api("GET", `/v1/bindings/${id}`)).status).toBe(404);
  });

  it("answers 404 for unknown bindings on every per-id route", async () => {
    const id = unique("missing");
    for (const [method, path] of [
      ["GET", `/v1/bindings/${id}`],
      ["DELETE", `/v1/bindings/${id}`],
      ["POST", `/v1/bindings/${id}/pause`],
      ["POST", `/v1/bindings/${id}/resume`],
      ["GET", `/v1/bindings/${id}/signing-secret`],
    ] as const) {
      const res = await api(method, path);
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
  });

  it("rejects bad list parameters → 400", async () => {
    for (const q of ["limit=0", "limit=501", "limit=abc", "cursor=%%%", "cursor=bm90LWpzb24", "cursor=WzVd"]) {
      const res = await api("GET", `/v1/bindings?${q}`);
      expect(res.status, q).toBe(400);
    }
  });
});
