/**
 * Property tests of every route `GET /openapi.json` lists (SPEC 15, 16, 19): each is called with
 * hostile path parameters, query strings (bad numbers, bad cursors, broken percent-encoding),
 * bodies (malformed, wrong types per field, huge, deep, not UTF-8, empty) and content types.
 * Properties: never a 5xx; every 4xx is the error envelope; a rejected mutation changes nothing in D1.
 * Path parameters are often real objects (a dispatch waiting for completion, a DLQ entry, a pending
 * approval, a leased-or-ready worker job), so validation behind the lookups is reached too.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { handler } from "../support/api";
import {
  type Body,
  contentType,
  cursorValue,
  encodeLossy,
  headerText,
  hostileBody,
  jsonText,
  nastyChar,
  nastyKey,
  pathSegment,
  queryValue,
} from "./arbitraries";
import { fuzz, runs, timeoutFor } from "./config";
import {
  ADMIN,
  changedTables,
  checkAnswer,
  describeRequest,
  type FuzzRequest,
  type FuzzResponse,
  send,
  settle,
  snapshot,
} from "./support";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Ids of the fixture objects, filled in by `beforeAll`. */
const fx = { eventId: "", traceId: "", dlqId: "", approvalId: "", jobId: "" };

const SPEC_EXAMPLE: Json = {
  provider: "fzput",
  events: ["a.b", "c"],
  when: "event.kind == 'a.b' && size(event.payload) > 0",
  handler: "worker://fz-put-q",
  allow_cleartext: false,
  timeout_ms: "5s",
  retry: { max_attempts: 3, policy: { exponential: { base_ms: 100, cap_ms: "1s" } } },
  flow_control: { concurrency: { key: "event.kind", max: 2 }, priority: { key: "event.kind", order: ["a.b"] } },
  circuit: { threshold: 2, cooldown_ms: "1m", mode: "hold" },
  budget: { hourly_cost_usd: 1.5, on_exhausted: "skip" },
  autonomy: { tier: "suggest", max_decisions_per_hour: 5 },
  dispatch_priority: "low",
  tenant_id: null,
};

interface Op {
  method: "get" | "put" | "post" | "delete";
  /** OpenAPI path template. */
  path: string;
  /** A real value per path parameter. */
  params?: Record<string, () => string>;
  /** A valid body; its mutations are what the route mostly receives. */
  body?: Json;
}

/**
 * Routes of `GET /openapi.json` with a tailored example body and real path parameters. A test checks
 * each is still a listed route; listed routes missing here are fuzzed with generic input.
 */
const OPS: Op[] = [
  { method: "post", path: "/hooks/{source}", params: { source: () => "fz-src-none" }, body: { type: "x" } },
  { method: "get", path: "/v1/sources" },
  {
    method: "put",
    path: "/v1/sources/{name}",
    params: { name: () => "fz-src" },
    body: {
      provider: "github",
      verify: { style: "hmac", secrets: ["s1", "s2"], tolerance_s: 60, header: "X-Sig" },
      tenant_id: "t1",
      dedupe: { window_s: 60 },
    },
  },
  { method: "get", path: "/v1/sources/{name}", params: { name: () => "fz-src" } },
  { method: "delete", path: "/v1/sources/{name}", params: { name: () => "fz-del-src" } },
  {
    method: "post",
    path: "/v1/events",
    body: {
      provider: "fz-nobody",
      kind: "k.v",
      payload: { a: [1, "b", null], c: { d: true } },
      headers: { "x-a": "b" },
      dedupe_key: "dk",
      tenant_id: "t1",
      occurred_at: "2026-01-01T00:00:00Z",
      trace_id: "trace-fz",
      target: { binding_id: "fz-nope", version: 1 },
    },
  },
  { method: "get", path: "/v1/events" },
  { method: "get", path: "/v1/events/{id}", params: { id: () => fx.eventId } },
  {
    method: "post",
    path: "/v1/events/{id}/replay",
    params: { id: () => fx.eventId },
    body: { binding_id: "fz-ok", version: 1, retry: false },
  },
  { method: "get", path: "/v1/bindings" },
  { method: "put", path: "/v1/bindings/{id}", params: { id: () => "fz-put" }, body: SPEC_EXAMPLE },
  { method: "get", path: "/v1/bindings/{id}", params: { id: () => "fz-put" } },
  { method: "delete", path: "/v1/bindings/{id}", params: { id: () => "fz-del" } },
  { method: "post", path: "/v1/bindings/{id}/pause", params: { id: () => "fz-pause" }, body: {} },
  { method: "post", path: "/v1/bindings/{id}/resume", params: { id: () => "fz-pause" }, body: {} },
  { method: "get", path: "/v1/bindings/{id}/signing-secret", params: { id: () => "fz-ok" } },
  { method: "get", path: "/v1/dispatches" },
  {
    method: "get",
    path: "/v1/dispatches/{binding_key}/{event_id}",
    params: { binding_key: () => "fz-wait@v1", event_id: () => fx.eventId },
  },
  {
    method: "post",
    path: "/v1/dispatches/{binding_key}/{event_id}/cancel",
    params: { binding_key: () => "fz-wait%40v1", event_id: () => fx.eventId },
    body: { requested_by: "fuzz", reason: "r" },
  },
  {
    method: "post",
    path: "/v1/dispatches/{binding_key}/{event_id}/complete",
    params: { binding_key: () => "fz-wait@v1", event_id: () => fx.eventId },
    body: { status: "succeeded", result: { ok: [1, 2] }, error: "e" },
  },
  { method: "get", path: "/v1/dlq" },
  {
    method: "post",
    path: "/v1/dlq/replay",
    body: {
      filter: {
        binding_id: "fz-dlq",
        binding_key: "fz-dlq@v1",
        error_class: "provider_5xx",
        since: "2026-01-01T00:00:00Z",
      },
      dry_run: true,
      retry: false,
    },
  },
  { method: "get", path: "/v1/dlq/{id}", params: { id: () => fx.dlqId } },
  { method: "post", path: "/v1/dlq/{id}/replay", params: { id: () => fx.dlqId }, body: { retry: false } },
  { method: "post", path: "/v1/dlq/{id}/resolve", params: { id: () => fx.dlqId }, body: { reason: "r" } },
  { method: "get", path: "/v1/approvals" },
  { method: "get", path: "/v1/approvals/{id}", params: { id: () => fx.approvalId } },
  {
    method: "post",
    path: "/v1/approvals/{id}/approve",
    params: { id: () => fx.approvalId },
    body: { reviewer: "r", reason: "ok" },
  },
  {
    method: "post",
    path: "/v1/approvals/{id}/deny",
    params: { id: () => fx.approvalId },
    body: { reviewer: "r", reason: "no" },
  },
  { method: "get", path: "/v1/trust" },
  { method: "post", path: "/v1/trust/promote", body: { binding_id: "fz-ok", tier: "act_auto", reason: "r" } },
  { method: "post", path: "/v1/trust/demote", body: { binding_id: "fz-ok", tier: "shadow", reason: "r" } },
  { method: "get", path: "/v1/trust/verify" },
  { method: "get", path: "/v1/queues/{queue}", params: { queue: () => "fz-jobs" } },
  {
    method: "post",
    path: "/v1/queues/{queue}/claim",
    params: { queue: () => "fz-jobs" },
    body: { consumer_id: "c-1", lease_ms: 1000, max: 1 },
  },
  {
    method: "get",
    path: "/v1/queues/{queue}/jobs/{job_id}",
    params: { queue: () => "fz-jobs", job_id: () => fx.jobId },
  },
  {
    method: "post",
    path: "/v1/queues/{queue}/jobs/{job_id}/ack",
    params: { queue: () => "fz-jobs", job_id: () => fx.jobId },
    body: { response: { done: true }, consumer_id: "c-1" },
  },
  {
    method: "post",
    path: "/v1/queues/{queue}/jobs/{job_id}/release",
    params: { queue: () => "fz-jobs", job_id: () => fx.jobId },
    body: { consumer_id: "c-1" },
  },
  { method: "get", path: "/v1/records" },
  { method: "get", path: "/v1/traces/{trace_id}/graph", params: { trace_id: () => fx.traceId } },
  { method: "get", path: "/v1/stats" },
  { method: "get", path: "/v1/circuits" },
  { method: "get", path: "/metrics" },
  { method: "get", path: "/healthz" },
  { method: "get", path: "/openapi.json" },
  { method: "get", path: "/docs" },
  { method: "get", path: "/" },
  // Last: a successful apply drains every binding the manifest does not list.
  {
    method: "post",
    path: "/v1/bindings:apply",
    body: { bindings: [{ id: "fz-apply", ...(SPEC_EXAMPLE as Record<string, Json>) }] },
  },
];

const opKey = (op: { method: string; path: string }) => `${op.method.toUpperCase()} ${op.path}`;

/** Query parameters of each operation, from the OpenAPI document. */
const queryParams = new Map<string, string[]>();

async function api(method: string, path: string, body?: unknown): Promise<FuzzResponse> {
  return send({
    method,
    path,
    headers: { ...ADMIN, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function poll<T>(what: string, read: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`fixture not ready: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function createFixtures() {
  await handler.script("fz-down", { responses: [], otherwise: { status: 500, body: { error: "down" } } });
  await handler.script("fz-waiting", {
    responses: [],
    otherwise: { status: 202, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "later" } },
  });
  const bindings: [string, Record<string, Json>][] = [
    ["fz-ok", { provider: "fzfix", handler: "worker://fz-jobs" }],
    ["fz-dlq", { provider: "fzfix", handler: handler.url("fz-down"), retry: { max_attempts: 1 } }],
    ["fz-wait", { provider: "fzfix", handler: handler.url("fz-waiting") }],
    [
      "fz-approval",
      {
        provider: "fzfix",
        handler: "worker://fz-approved",
        autonomy: { tier: "act_auto", max_decisions_per_hour: 0 },
      },
    ],
    ["fz-put", SPEC_EXAMPLE as Record<string, Json>],
    ["fz-del", { provider: "fzother", handler: "worker://fz-del" }],
    ["fz-pause", { provider: "fzother", handler: "worker://fz-pause" }],
  ];
  for (const [id, spec] of bindings) {
    const res = await api("PUT", `/v1/bindings/${id}`, spec);
    expect(res.status, res.text).toBe(201);
  }
  for (const [name, verify] of [
    ["fz-src", { style: "github", secret: "s" }],
    ["fz-del-src", { style: "none" }],
    ["fz-src-none", { style: "none" }],
  ] as const) {
    const res = await api("PUT", `/v1/sources/${name}`, { verify });
    expect(res.status, res.text).toBe(201);
  }
  const published = await api("POST", "/v1/events", { provider: "fzfix", kind: "k", payload: { n: 1 } });
  expect(published.status, published.text).toBe(202);
  const accepted = published.json as { event_id: string; trace_id: string };
  fx.eventId = accepted.event_id;
  fx.traceId = accepted.trace_id;

  const dispatchResult = (key: string, status: string) =>
    poll(`${key} ${status}`, async () => {
      const res = await api("GET", `/v1/dispatches/${key}/${fx.eventId}`);
      const body = res.json as { status?: string; result?: Record<string, string> } | undefined;
      return body?.status === status ? (body.result ?? {}) : undefined;
    });
  fx.jobId = (await dispatchResult("fz-ok@v1", "succeeded")).job_id ?? "";
  fx.approvalId = (await dispatchResult("fz-approval@v1", "waiting")).request_id ?? "";
  await dispatchResult("fz-wait@v1", "waiting");
  fx.dlqId = await poll("dlq entry", async () => {
    const res = await api("GET", "/v1/dlq?binding_id=fz-dlq");
    return (res.json as { items?: { id: string }[] } | undefined)?.items?.[0]?.id;
  });
  expect(fx.jobId).toMatch(/^job_/);
  expect(fx.approvalId).toMatch(/^apr_/);
  await settle();
}

/** A path with each `{param}` a real value (sometimes percent-encoded) or a hostile segment. */
function pathArb(op: Op): fc.Arbitrary<string> {
  const names = [...op.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1] ?? "");
  if (names.length === 0) return fc.constant(op.path);
  const segment = (name: string) => {
    const real = op.params?.[name];
    return real
      ? fc.oneof(
          { weight: 3, arbitrary: fc.constant(null).map(() => real()) },
          { weight: 1, arbitrary: fc.constant(null).map(() => encodeLossy(real())) },
          { weight: 3, arbitrary: pathSegment },
        )
      : pathSegment;
  };
  return fc
    .tuple(...names.map(segment))
    .map((values) => values.reduce((path, value, i) => path.replace(`{${names[i]}}`, value), op.path));
}

/** A query string over the operation's documented parameters plus unknown ones. */
function queryArb(key: string): fc.Arbitrary<string> {
  const known = queryParams.get(key) ?? [];
  const name = known.length > 0 ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...known) }, nastyKey) : nastyKey;
  const pair = name.chain((n) => (n === "cursor" ? cursorValue : queryValue).map((v) => `${encodeLossy(n)}=${v}`));
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant("") },
    { weight: 6, arbitrary: fc.array(pair, { minLength: 1, maxLength: 4 }).map((pairs) => `?${pairs.join("&")}`) },
    { weight: 1, arbitrary: fc.constantFrom("?", "?&&", "?=", "?%", "?limit", "?cursor=&cursor=x", "?%zz=%zz") },
  );
}

function requestArb(op: Op): fc.Arbitrary<FuzzRequest> {
  const key = opKey(op);
  const hasBody = op.method === "post" || op.method === "put";
  return fc
    .record({
      path: pathArb(op),
      query: queryArb(key),
      body: hasBody ? hostileBody(op.body).map((b): Body | undefined => b) : fc.constant<Body | undefined>(undefined),
      contentType,
      extra: fc.dictionary(
        fc.constantFrom("idempotency-key", "x-request-id", "x-switchyard-trace-id"),
        headerText(80),
        {
          maxKeys: 2,
        },
      ),
    })
    .map(({ path, query, body, contentType: type, extra }) => ({
      method: op.method.toUpperCase(),
      path: `${path}${query}`,
      headers: { ...ADMIN, ...extra, ...(type === undefined || body === undefined ? {} : { "content-type": type }) },
      ...(body === undefined ? {} : { body }),
    }));
}

const BASE_RUNS = 8;

async function fuzzOperation(op: Op) {
  await fuzz(
    fc.asyncProperty(requestArb(op), (req) => checkRequest(op, req)),
    runs(BASE_RUNS),
  );
}

/** Properties 1–3 for one request: no 5xx, the envelope, and a rejected mutation changes no table. */
async function checkRequest(op: Op, req: FuzzRequest) {
  const mutating = op.method !== "get";
  const before = mutating ? await snapshot() : null;
  const res = await send(req);
  checkAnswer(req, res, { allowBackpressure: op.path.startsWith("/hooks/") });
  if (!before) return;
  if (res.status >= 400) {
    const changed = changedTables(before, await snapshot());
    if (changed.length > 0) {
      throw new Error(
        `rejected request changed ${changed.join(", ")}:\n${describeRequest(req)}\n→ ${res.status} ${res.text.slice(0, 300)}`,
      );
    }
  } else {
    // Let the work a successful mutation started finish, so the next snapshot is stable.
    await settle();
  }
}

describe("every route under hostile input", () => {
  beforeAll(async () => {
    const doc = await send({ method: "GET", path: "/openapi.json" });
    expect(doc.status).toBe(200);
    const paths = (
      doc.json as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[] }>> }
    ).paths;
    for (const [path, methods] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        queryParams.set(
          opKey({ method, path }),
          (operation.parameters ?? []).filter((p) => p.in === "query").map((p) => p.name),
        );
      }
    }
    await createFixtures();
  }, 60_000);

  it("every tailored operation is a route GET /openapi.json lists", () => {
    expect(OPS.map(opKey).filter((key) => !queryParams.has(key))).toEqual([]);
  });

  it.each(OPS.map((op) => [opKey(op), op] as const))(
    "%s: no 5xx, the error envelope, nothing half-written",
    async (_name, op) => fuzzOperation(op),
    timeoutFor(BASE_RUNS, 3_000),
  );

  it(
    "routes without a tailored example (listed by GET /openapi.json): no 5xx, the error envelope, nothing half-written",
    async () => {
      const tailored = new Set(OPS.map(opKey));
      const others: Op[] = [...queryParams.keys()]
        .filter((key) => !tailored.has(key))
        .map((key) => {
          const [method = "get", path = "/"] = key.split(" ");
          return { method: method.toLowerCase() as Op["method"], path, body: {} };
        });
      for (const op of others) await fuzzOperation(op);
    },
    timeoutFor(BASE_RUNS * 4, 3_000),
  );

  it(
    "unexpected methods on every route: no 5xx, and the error envelope where there is a body",
    async () => {
      await fuzz(
        fc.asyncProperty(
          fc.constantFrom(...OPS),
          fc.constantFrom("HEAD", "OPTIONS", "PATCH", "PUT", "DELETE", "POST", "GET"),
          fc.option(fc.constantFrom("{}", "[]", "x"), { nil: undefined }),
          async (op, method, body) => {
            const path = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => op.params?.[name]?.() ?? "x");
            const withBody = body !== undefined && method !== "GET" && method !== "HEAD";
            const req: FuzzRequest = {
              method,
              path,
              headers: { ...ADMIN, ...(withBody ? { "content-type": "application/json" } : {}) },
              ...(withBody ? { body } : {}),
            };
            const before = method === "GET" || method === "HEAD" ? null : await snapshot();
            const res = await send(req);
            if (method === "HEAD") {
              expect(res.status, describeRequest(req)).toBeLessThan(500);
              return;
            }
            checkAnswer(req, res);
            if (before && res.status >= 400) expect(changedTables(before, await snapshot())).toEqual([]);
            if (before && res.status < 400) await settle();
          },
        ),
        runs(40),
      );
    },
    timeoutFor(40, 2_000),
  );

  it(
    "an accepted publish reads back exactly as sent",
    async () => {
      await fuzz(
        fc.asyncProperty(
          fc.string({ unit: nastyChar, minLength: 1, maxLength: 40 }),
          fc.option(fc.string({ unit: nastyChar, minLength: 1, maxLength: 40 }), { nil: undefined }),
          jsonText,
          fc.dictionary(fc.string({ unit: nastyChar, maxLength: 10 }), fc.string({ unit: nastyChar, maxLength: 20 }), {
            maxKeys: 3,
          }),
          async (kind, dedupeKey, payloadText, headers) => {
            const body = `{"provider":"fz-readback","kind":${JSON.stringify(kind)},"payload":${payloadText},"headers":${JSON.stringify(headers)}${dedupeKey === undefined ? "" : `,"dedupe_key":${JSON.stringify(`${dedupeKey}-${crypto.randomUUID()}`)}`}}`;
            const req: FuzzRequest = {
              method: "POST",
              path: "/v1/events",
              headers: { ...ADMIN, "content-type": "application/json" },
              body,
            };
            const res = await send(req);
            checkAnswer(req, res);
            if (res.status !== 202) return;
            const sent = JSON.parse(body) as { kind: string; payload: unknown; dedupe_key?: string; headers: object };
            const id = (res.json as { event_id: string }).event_id;
            const got = await send({ method: "GET", path: `/v1/events/${id}`, headers: ADMIN });
            const event = (got.json as { event: Record<string, unknown> }).event;
            const context = `${describeRequest(req)}\n→ stored ${JSON.stringify(event).slice(0, 400)}`;
            expect(event.kind, context).toBe(sent.kind);
            if (sent.dedupe_key !== undefined) expect(event.dedupe_key, context).toBe(sent.dedupe_key);
            expect(JSON.stringify(event.payload), context).toBe(JSON.stringify(sent.payload));
            const lowered = Object.fromEntries(Object.entries(sent.headers).map(([k, v]) => [k.toLowerCase(), v]));
            expect(JSON.stringify(event.headers), context).toBe(JSON.stringify(lowered));
          },
        ),
        runs(40),
      );
    },
    timeoutFor(40),
  );

  it(
    "with a tenant API key: no 5xx, the error envelope, nothing half-written",
    async () => {
      const created = await api("POST", "/v1/tenants/fz-tenant/keys", { name: "fuzz" });
      expect(created.status, created.text).toBe(201);
      const authorization = `Bearer ${(created.json as { key: string }).key}`;
      const routes = OPS.filter((op) => op.path.startsWith("/v1/"));
      await fuzz(
        fc.asyncProperty(
          fc.constantFrom(...routes).chain((op) => requestArb(op).map((req) => ({ op, req }))),
          ({ op, req }) => checkRequest(op, { ...req, headers: { ...req.headers, authorization } }),
        ),
        runs(60),
      );
    },
    timeoutFor(60, 3_000),
  );

  it(
    "answers 401 with the envelope for any bad Authorization header",
    async () => {
      const routes = OPS.filter((op) => op.path.startsWith("/v1/"));
      await fuzz(
        fc.asyncProperty(
          fc.constantFrom(...routes),
          fc.oneof(
            headerText(200),
            headerText(60).map((t) => `Bearer ${t}`),
            fc.constantFrom(
              "Bearer",
              "Bearer ",
              "bearer test-admin-token-x",
              "Basic dGVzdA==",
              "Bearer  ",
              "Bearer .",
              "Bearer a.",
              "Bearer .b",
              "Bearer tk_x.y",
              `Bearer ${"k".repeat(5000)}.${"s".repeat(5000)}`,
            ),
          ),
          async (op, authorization) => {
            const path = op.path.replace(/\{[^}]+\}/g, "x");
            const req: FuzzRequest = { method: op.method.toUpperCase(), path, headers: { authorization } };
            const res = await send(req);
            checkAnswer(req, res);
            expect(res.status, describeRequest(req)).toBe(401);
          },
        ),
        runs(30),
      );
    },
    timeoutFor(30),
  );
});
