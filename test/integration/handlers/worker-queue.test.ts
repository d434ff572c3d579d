/** `worker://` job queues (SPEC 12.3, 19): enqueue through the pipeline, push, and the pull API. */
import { env, exports } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { describe, expect, it } from "vitest";
import type { TriggerEvent } from "../../../src/contracts/events";
import type { JobPriority } from "../../../src/contracts/worker-jobs";
import { workerJobs } from "../../../src/db/schema";
import { clockOf, getJob, insertJob, purgeAckedJobs } from "../../../src/db/worker-jobs-repo";
import type { AttemptContext } from "../../../src/handlers/envelope";
import type { HandlerEnv } from "../../../src/handlers/handler-env";
import { orderForClaim } from "../../../src/handlers/worker-jobs-policy";
import { enqueueWorkerJob } from "../../../src/handlers/worker-queue";
import { iso } from "../../../src/lib/time";
import { api, BASE, eventually, unique, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
const MIN = 60_000;

function fakeEvent(id = `evt_${crypto.randomUUID()}`, headers: Record<string, string> = {}): TriggerEvent {
  return {
    id,
    provider: "webhook",
    kind: "thing.happened",
    received_at: iso(Date.now()),
    occurred_at: null,
    dedupe_key: id,
    trace_id: `trace_${crypto.randomUUID()}`,
    tenant_id: null,
    headers,
    payload: { n: 1 },
    signature_status: { state: "unsigned" },
  };
}

/** Writes a job straight to D1 with a chosen age, so ordering tests control time. */
async function seedJob(queue: string, priority: JobPriority, ageMs: number, label = unique("seed")) {
  const event = fakeEvent();
  const { row } = await insertJob(
    env.DB,
    {
      queue,
      trigger_id: "seeded",
      binding_key: "seeded@v1",
      binding_version: 1,
      event_id: event.id,
      dispatch_id: `seeded@v1|${event.id}|${label}`,
      attempt: 1,
      tenant_id: null,
      event_json: JSON.stringify(event),
      replay_of_event_id: null,
      priority,
    },
    Date.now() - ageMs,
  );
  return row.jobId;
}

function attemptContext(queue: string, extra: Partial<AttemptContext> = {}): AttemptContext {
  const eventId = `evt_${crypto.randomUUID()}`;
  return {
    dispatch_id: `direct@v1|${eventId}`,
    binding_key: "direct@v1",
    binding_id: "direct",
    event_id: eventId,
    trace_id: `trace_${crypto.randomUUID()}`,
    attempt: 1,
    replay_of_event_id: null,
    autonomy_tier: "act_auto",
    timeout_ms: 2_000,
    signing_secret: "whsec_dGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQtdGVzdC1zZWNyZXQ=",
    handler: `worker://${queue}`,
    binding_version: 1,
    allow_cleartext: false,
    dispatch_priority: "normal",
    ...extra,
  };
}

function handlerEnv(overrides: Record<string, unknown> = {}): HandlerEnv {
  return { env: { ...env, ...overrides } as Env, now: () => Date.now() };
}

async function claim(queue: string, body: Record<string, unknown>) {
  const res = await api("POST", `/v1/queues/${queue}/claim`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items as { job_id: string; [k: string]: unknown }[];
}

async function publishWith(provider: string, headers?: Record<string, string>) {
  const res = await api("POST", "/v1/events", { provider, kind: "thing.happened", payload: { n: 1 }, headers });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.event_id as string;
}

describe("worker:// through the pipeline", () => {
  it("enqueues the full event and succeeds with the receipt {queue, job_id}", async () => {
    const queue = unique("q");
    const b = await bindingTo(`worker://${queue}`);
    const { event_id } = await publish(b.provider, "thing.happened", { order: 42 });
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 1, handler_kind: "worker" });
    expect(Object.keys(d.result).sort()).toEqual(["job_id", "queue"]);
    expect(d.result.queue).toBe(queue);
    expect(d.result.job_id).toMatch(/^job_[0-9a-f-]{36}$/);

    const job = await api("GET", `/v1/queues/${queue}/jobs/${d.result.job_id}`);
    expect(job.status).toBe(200);
    expect(job.body).toMatchObject({
      job_id: d.result.job_id,
      queue,
      trigger_id: b.id,
      binding_key: b.bindingKey,
      binding_version: 1,
      event_id,
      dispatch_id: `${b.bindingKey}|${event_id}`,
      attempt: 1,
      replay_of_event_id: null,
      priority: "normal",
      state: "ready",
      consumer_id: null,
      lease_expires_at: null,
      claims: 0,
      response: null,
      acked_at: null,
    });
    expect(job.body.event).toMatchObject({ id: event_id, provider: b.provider, payload: { order: 42 } });
    expect(await api("GET", `/v1/queues/${queue}`)).toMatchObject({
      status: 200,
      body: { queue, ready: 1, leased: 0, acked: 0 },
    });
  });

  it("takes priority from the event header `priority` (high/low), else the binding's dispatch_priority", async () => {
    const queue = unique("q");
    const b = await bindingTo(`worker://${queue}`, { dispatch_priority: "low" });
    const cases: [Record<string, string> | undefined, JobPriority][] = [
      [{ priority: "high" }, "high"],
      [undefined, "low"],
      [{ priority: "normal" }, "low"],
      [{ priority: "bogus" }, "low"],
    ];
    for (const [headers, expected] of cases) {
      const eventId = await publishWith(b.provider, headers);
      const d = await waitForDispatch(b.bindingKey, eventId, TERMINAL);
      expect(d.status).toBe("succeeded");
      const job = await api("GET", `/v1/queues/${queue}/jobs/${d.result.job_id}`);
      expect(job.body.priority, JSON.stringify(headers)).toBe(expected);
    }
    const highBinding = await bindingTo(`worker://${queue}`, { dispatch_priority: "high" });
    const eventId = await publishWith(highBinding.provider, { priority: "low" });
    const d = await waitForDispatch(highBinding.bindingKey, eventId, TERMINAL);
    expect((await api("GET", `/v1/queues/${queue}/jobs/${d.result.job_id}`)).body.priority).toBe("low");
  });

  it("a replay enqueues a new job carrying replay_of_event_id (SPEC 18.10)", async () => {
    const queue = unique("q");
    const b = await bindingTo(`worker://${queue}`);
    const { event_id } = await publish(b.provider);
    const original = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    const replay = await api("POST", `/v1/events/${event_id}/replay`, {});
    expect(replay.status, JSON.stringify(replay.body)).toBe(202);
    const replayed = await eventually(async () => {
      const res = await api("GET", `/v1/dispatches?replay_of_event_id=${event_id}`);
      const item = res.body.items?.find((i: { status: string }) => i.status === "succeeded");
      return item ?? undefined;
    }, 15_000);
    expect(replayed.result.job_id).not.toBe(original.result.job_id);
    const job = await api("GET", `/v1/queues/${queue}/jobs/${replayed.result.job_id}`);
    expect(job.body).toMatchObject({ event_id, replay_of_event_id: event_id, trigger_id: b.id });
    expect(job.body.dispatch_id).toMatch(new RegExp(`^${b.bindingKey}\\|${event_id}\\|r.+$`));
    expect((await api("GET", `/v1/queues/${queue}`)).body).toMatchObject({ ready: 2 });
  });

  it("pushes jobs of a queue named in WORKER_PUSH_BINDINGS through the service binding and acks them", async () => {
    const b = await bindingTo("worker://pushed-jobs");
    const { event_id } = await publish(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d.status).toBe("succeeded");
    expect(d.result).toEqual({ queue: "pushed-jobs", job_id: expect.stringMatching(/^job_/) });
    const job = await api("GET", `/v1/queues/pushed-jobs/jobs/${d.result.job_id}`);
    expect(job.body).toMatchObject({
      state: "acked",
      consumer_id: "push:ECHO",
      claims: 1,
      push_error: null,
      pushed_at: expect.any(String),
      acked_at: expect.any(String),
    });
    // aux-echo answers with what it received: that answer is the job's response.
    const echoed = job.body.response;
    expect(echoed.path).toBe("/queues/pushed-jobs/jobs");
    expect(echoed.headers).toMatchObject({
      "content-type": "application/json",
      "x-switchyard-queue": "pushed-jobs",
      "x-switchyard-job-id": d.result.job_id,
      "x-switchyard-event-id": event_id,
      "webhook-id": `${b.bindingKey}/${event_id}`,
    });
    expect(echoed.body).toMatchObject({
      job_id: d.result.job_id,
      queue: "pushed-jobs",
      state: "leased",
      event_id,
      event: { id: event_id },
    });
    expect(await claim("pushed-jobs", { consumer_id: "puller" })).toEqual([]);
  });
});

describe("enqueueWorkerJob", () => {
  it("is idempotent per dispatch: a re-run answers with the same job", async () => {
    const queue = unique("q");
    const ctx = attemptContext(queue);
    const event = fakeEvent(ctx.event_id);
    const first = await enqueueWorkerJob(handlerEnv(), ctx, event, { kind: "worker", uri: ctx.handler, queue });
    const again = await enqueueWorkerJob(handlerEnv(), ctx, event, { kind: "worker", uri: ctx.handler, queue });
    const retry = await enqueueWorkerJob(handlerEnv(), { ...ctx, attempt: 2 }, event, {
      kind: "worker",
      uri: ctx.handler,
      queue,
    });
    expect(first.kind).toBe("success");
    expect(again).toEqual(first);
    expect(retry).toEqual(first);
    expect((await api("GET", `/v1/queues/${queue}`)).body).toMatchObject({ ready: 1 });
  });

  it("carries replay_of_event_id and binding_version from the attempt context", async () => {
    const queue = unique("q");
    const ctx = attemptContext(queue, { replay_of_event_id: "evt_original", binding_version: 7 });
    const result = await enqueueWorkerJob(handlerEnv(), ctx, fakeEvent(ctx.event_id), {
      kind: "worker",
      uri: ctx.handler,
      queue,
    });
    const jobId = (result as { result: { job_id: string } }).result.job_id;
    const row = await getJob(env.DB, jobId);
    expect(row).toMatchObject({ replayOfEventId: "evt_original", bindingVersion: 7, state: "ready" });
  });

  it.each<[string, Record<string, unknown>, string | null]>([
    ["invalid JSON in the setting disables push", { WORKER_PUSH_BINDINGS: "{not json" }, null],
    ["a binding that is not configured", { WORKER_PUSH_BINDINGS: '{"QUEUE":"MISSING"}' }, "not configured"],
    [
      "a push answered with 503",
      {
        WORKER_PUSH_BINDINGS: '{"QUEUE":"FAKE"}',
        FAKE: { fetch: async () => new Response("busy", { status: 503 }) },
      },
      "push returned HTTP 503",
    ],
    [
      "a push that throws",
      {
        WORKER_PUSH_BINDINGS: '{"QUEUE":"FAKE"}',
        FAKE: {
          fetch: async () => {
            throw new Error("connection reset");
          },
        },
      },
      "push failed: connection reset",
    ],
  ])("%s: the dispatch succeeds and the job stays ready for pull", async (_name, overrides, pushError) => {
    const queue = unique("q");
    const setting = String(overrides.WORKER_PUSH_BINDINGS).replace("QUEUE", queue);
    const ctx = attemptContext(queue);
    const result = await enqueueWorkerJob(
      handlerEnv({ ...overrides, WORKER_PUSH_BINDINGS: setting }),
      ctx,
      fakeEvent(ctx.event_id),
      { kind: "worker", uri: ctx.handler, queue },
    );
    expect(result).toMatchObject({ kind: "success", result: { queue, job_id: expect.any(String) } });
    const jobId = (result as { result: { job_id: string } }).result.job_id;
    const job = (await api("GET", `/v1/queues/${queue}/jobs/${jobId}`)).body;
    expect(job).toMatchObject({ state: "ready", consumer_id: null, pushed_at: null });
    if (pushError === null) expect(job.push_error).toBeNull();
    else expect(job.push_error).toContain(pushError);
    expect((await claim(queue, { consumer_id: "puller" })).map((j) => j.job_id)).toEqual([jobId]);
  });
});

describe("claim order (SPEC 12.3)", () => {
  it("hands out high → normal → low, oldest first, a normal job waiting ≥ 15 min counting as high", async () => {
    const queue = unique("q");
    const ids = {
      lowOld: await seedJob(queue, "low", 60 * MIN),
      normalNew: await seedJob(queue, "normal", 1 * MIN),
      highNew: await seedJob(queue, "high", 1 * MIN),
      normalPromoted: await seedJob(queue, "normal", 16 * MIN),
      highOld: await seedJob(queue, "high", 10 * MIN),
      normalMid: await seedJob(queue, "normal", 14 * MIN),
      lowNew: await seedJob(queue, "low", 0),
    };
    const expected = [
      ids.normalPromoted,
      ids.highOld,
      ids.highNew,
      ids.normalMid,
      ids.normalNew,
      ids.lowOld,
      ids.lowNew,
    ];
    // The SQL ordering agrees with the pure policy.
    const rows = await drizzle(env.DB).select().from(workerJobs).where(eq(workerJobs.queue, queue));
    expect(orderForClaim(rows.map(clockOf), Date.now()).map((j) => j.job_id)).toEqual(expected);

    const oneByOne: string[] = [];
    for (let i = 0; i < expected.length; i++) {
      const items = await claim(queue, { consumer_id: "c1" });
      expect(items).toHaveLength(1);
      oneByOne.push(items[0]!.job_id);
    }
    expect(oneByOne).toEqual(expected);
    expect(await claim(queue, { consumer_id: "c1" })).toEqual([]);
  });

  it("a batch claim returns up to max jobs in claim order", async () => {
    const queue = unique("q");
    const low = await seedJob(queue, "low", 5 * MIN);
    const normal = await seedJob(queue, "normal", 5 * MIN);
    const high = await seedJob(queue, "high", 0);
    const promoted = await seedJob(queue, "normal", 15 * MIN + 5_000);
    const first = await claim(queue, { consumer_id: "batcher", max: 3, lease_ms: 30_000 });
    expect(first.map((j) => j.job_id)).toEqual([promoted, high, normal]);
    for (const j of first) expect(j).toMatchObject({ state: "leased", consumer_id: "batcher", claims: 1 });
    const leaseMs = Date.parse(String(first[0]!.lease_expires_at)) - Date.parse(String(first[0]!.updated_at));
    expect(leaseMs).toBe(30_000);
    expect((await claim(queue, { consumer_id: "batcher", max: 100 })).map((j) => j.job_id)).toEqual([low]);
  });

  it("an empty or unknown queue claims nothing", async () => {
    expect(await claim(unique("nobody"), { consumer_id: "c" })).toEqual([]);
    expect((await api("GET", `/v1/queues/${unique("nobody")}`)).body).toMatchObject({ ready: 0, leased: 0, acked: 0 });
  });
});

describe("leases", () => {
  it("an expired lease makes the job claimable again", async () => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "normal", 0);
    const [first] = await claim(queue, { consumer_id: "slow", lease_ms: 1_000 });
    expect(first).toMatchObject({ job_id: jobId, consumer_id: "slow", claims: 1 });
    expect(await claim(queue, { consumer_id: "fast" })).toEqual([]);
    expect((await api("GET", `/v1/queues/${queue}`)).body).toMatchObject({ ready: 0, leased: 1 });
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await api("GET", `/v1/queues/${queue}`)).body).toMatchObject({ ready: 1, leased: 0 });
    const slowAck = await api("POST", `/v1/queues/${queue}/jobs/${jobId}/ack`, { consumer_id: "slow" });
    expect(slowAck.status).toBe(409);
    expect(slowAck.body.error.message).toMatch(/lease on job .* expired at/);
    const [again] = await claim(queue, { consumer_id: "fast" });
    expect(again).toMatchObject({ job_id: jobId, consumer_id: "fast", claims: 2 });
    const fenced = await api("POST", `/v1/queues/${queue}/jobs/${jobId}/ack`, { consumer_id: "slow" });
    expect(fenced.status).toBe(409);
    expect(fenced.body.error.message).toMatch(/leased by another consumer/);
  });

  it("a lease that expired long ago (written directly) is claimable", async () => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "low", 0);
    await drizzle(env.DB)
      .update(workerJobs)
      .set({ state: "leased", consumerId: "gone", claims: 1, leaseExpiresAt: iso(Date.now() - 60_000) })
      .where(eq(workerJobs.jobId, jobId));
    const [job] = await claim(queue, { consumer_id: "next" });
    expect(job).toMatchObject({ job_id: jobId, consumer_id: "next", claims: 2 });
  });

  it("20 concurrent claims of 5 jobs lease each job exactly once", async () => {
    const queue = unique("q");
    const seeded = new Set<string>();
    for (let i = 0; i < 5; i++) seeded.add(await seedJob(queue, i % 2 ? "high" : "normal", i * 1000));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => claim(queue, { consumer_id: `c${i}`, max: i % 3 === 0 ? 2 : 1 })),
    );
    const claimed = results.flat().map((j) => j.job_id);
    expect(claimed).toHaveLength(5);
    expect(new Set(claimed)).toEqual(seeded);
    const rows = await drizzle(env.DB).select().from(workerJobs).where(eq(workerJobs.queue, queue));
    for (const row of rows) expect(row).toMatchObject({ state: "leased", claims: 1 });
    // Each job's holder is the claimer that received it.
    results.forEach((items, i) => {
      for (const item of items) expect(rows.find((r) => r.jobId === item.job_id)?.consumerId).toBe(`c${i}`);
    });
  });

  it("concurrent batch claims split a larger queue without overlap", async () => {
    const queue = unique("q");
    const seeded = new Set<string>();
    const priorities: JobPriority[] = ["high", "normal", "low"];
    for (let i = 0; i < 30; i++) seeded.add(await seedJob(queue, priorities[i % 3]!, i * 100));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => claim(queue, { consumer_id: `b${i}`, max: 5 })),
    );
    const claimed = results.flat().map((j) => j.job_id);
    expect(claimed).toHaveLength(30);
    expect(new Set(claimed)).toEqual(seeded);
  });
});

describe("ack and release", () => {
  it("ack stores the response; repeating it is a no-op, changing it conflicts", async () => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "normal", 0);
    await claim(queue, { consumer_id: "w1" });
    const path = `/v1/queues/${queue}/jobs/${jobId}/ack`;
    const acked = await api("POST", path, { consumer_id: "w1", response: { done: true, n: [1, 2] } });
    expect(acked.status).toBe(200);
    expect(acked.body).toMatchObject({
      job_id: jobId,
      state: "acked",
      consumer_id: "w1",
      response: { done: true, n: [1, 2] },
      lease_expires_at: null,
      acked_at: expect.any(String),
    });
    const repeated = await api("POST", path, { response: { n: [1, 2], done: true } });
    expect(repeated.status).toBe(200);
    expect(repeated.body.acked_at).toBe(acked.body.acked_at);
    const changed = await api("POST", path, { response: { done: false } });
    expect(changed.status).toBe(409);
    expect(changed.body.error).toMatchObject({ code: "conflict" });
    expect((await api("POST", `/v1/queues/${queue}/jobs/${jobId}/release`)).status).toBe(409);
    expect(await claim(queue, { consumer_id: "w2" })).toEqual([]);
    expect((await api("GET", `/v1/queues/${queue}`)).body).toEqual({ queue, ready: 0, leased: 0, acked: 1 });
  });

  it("ack without a body acks with a null response", async () => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "normal", 0);
    await claim(queue, { consumer_id: "w1" });
    const res = await exports.default.fetch(`${BASE}/v1/queues/${queue}/jobs/${jobId}/ack`, {
      method: "POST",
      headers: { authorization: "Bearer test-admin-token" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ state: "acked", response: null });
  });

  it("release puts the job back to ready for the next claim", async () => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "normal", 0);
    await claim(queue, { consumer_id: "w1" });
    const wrong = await api("POST", `/v1/queues/${queue}/jobs/${jobId}/release`, { consumer_id: "w2" });
    expect(wrong.status).toBe(409);
    const released = await api("POST", `/v1/queues/${queue}/jobs/${jobId}/release`, { consumer_id: "w1" });
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ job_id: jobId, state: "ready", consumer_id: null, lease_expires_at: null });
    expect((await api("POST", `/v1/queues/${queue}/jobs/${jobId}/release`)).status).toBe(409);
    const [again] = await claim(queue, { consumer_id: "w2" });
    expect(again).toMatchObject({ job_id: jobId, consumer_id: "w2", claims: 2 });
  });

  it("stats count ready, leased (live) and acked jobs of one queue only", async () => {
    const queue = unique("q");
    const other = unique("q");
    for (let i = 0; i < 4; i++) await seedJob(queue, "normal", i);
    await seedJob(other, "normal", 0);
    const [a, b] = await claim(queue, { consumer_id: "w", max: 2 });
    await api("POST", `/v1/queues/${queue}/jobs/${a!.job_id}/ack`, {});
    expect((await api("GET", `/v1/queues/${queue}`)).body).toEqual({ queue, ready: 2, leased: 1, acked: 1 });
    expect(b).toBeDefined();
  });

  it("retention purges acked jobs older than the cutoff only", async () => {
    const queue = unique("q");
    const keep = await seedJob(queue, "normal", 0);
    const old = await seedJob(queue, "normal", 0);
    await drizzle(env.DB)
      .update(workerJobs)
      .set({ state: "acked", ackedAt: iso(Date.now() - 10 * 86_400_000) })
      .where(eq(workerJobs.jobId, old));
    expect(await purgeAckedJobs(env.DB, iso(Date.now() - 7 * 86_400_000))).toBeGreaterThanOrEqual(1);
    expect(await getJob(env.DB, old)).toBeNull();
    expect(await getJob(env.DB, keep)).not.toBeNull();
  });
});

describe("client mistakes are precise 4xx (SPEC 16)", () => {
  type Problem = { path: string; message: string };

  it.each<[string, unknown, Problem[]]>([
    ["missing consumer_id", {}, [{ path: "consumer_id", message: "required field is missing" }]],
    [
      "reserved consumer_id",
      { consumer_id: "push:ECHO" },
      [{ path: "consumer_id", message: "consumer_id prefix 'push:' is reserved for push delivery" }],
    ],
    [
      "bad consumer_id",
      { consumer_id: "has space" },
      [{ path: "consumer_id", message: "consumer_id must match [A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}" }],
    ],
    [
      "lease_ms too small",
      { consumer_id: "c", lease_ms: 10 },
      [{ path: "lease_ms", message: "lease_ms must be an integer from 1000 to 43200000" }],
    ],
    [
      "lease_ms too large",
      { consumer_id: "c", lease_ms: 1e9 },
      [{ path: "lease_ms", message: "lease_ms must be an integer from 1000 to 43200000" }],
    ],
    [
      "lease_ms not an integer",
      { consumer_id: "c", lease_ms: 1500.5 },
      [{ path: "lease_ms", message: "lease_ms must be an integer from 1000 to 43200000" }],
    ],
    [
      "lease_ms a string",
      { consumer_id: "c", lease_ms: "5000" },
      [{ path: "lease_ms", message: "lease_ms must be an integer from 1000 to 43200000" }],
    ],
    ["max 0", { consumer_id: "c", max: 0 }, [{ path: "max", message: "max must be an integer from 1 to 100" }]],
    ["max 101", { consumer_id: "c", max: 101 }, [{ path: "max", message: "max must be an integer from 1 to 100" }]],
    ["unknown field", { consumer_id: "c", lease: 5 }, [{ path: "lease", message: "unknown field 'lease'" }]],
  ])("claim with %s → 400", async (_name, body, problems) => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "normal", 0);
    const res = await api("POST", `/v1/queues/${queue}/claim`, body);
    expect(res.status, JSON.stringify(res.body)).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.details.problems).toEqual(problems);
    // Nothing was leased.
    expect((await getJob(env.DB, jobId))?.state).toBe("ready");
  });

  it("claim body problems that are not schema problems", async () => {
    const queue = unique("q");
    expect((await api("POST", `/v1/queues/${queue}/claim`)).status).toBe(400);
    const notJson = await api("POST", `/v1/queues/${queue}/claim`, "{consumer_id:");
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.message).toMatch(/not valid JSON/);
    expect((await api("POST", `/v1/queues/${queue}/claim`, "[]")).status).toBe(400);
    const text = await api("POST", `/v1/queues/${queue}/claim`, "consumer_id=c", { "content-type": "text/plain" });
    expect(text.status).toBe(415);
    const big = await api("POST", `/v1/queues/${queue}/claim`, {
      consumer_id: "c",
      pad: "x".repeat(1024 * 1024 + 1),
    });
    expect(big.status).toBe(413);
  });

  it("a malformed queue name → 400", async () => {
    for (const path of [
      "/v1/queues/bad%20name/claim",
      "/v1/queues/-leading/claim",
      `/v1/queues/${"q".repeat(129)}/claim`,
    ]) {
      const res = await api("POST", path, { consumer_id: "c" });
      expect(res.status, path).toBe(400);
      expect(res.body.error.message).toMatch(/queue name must match/);
    }
    expect((await api("GET", "/v1/queues/bad%20name")).status).toBe(400);
  });

  it("unknown, malformed and other-queue job ids → 404", async () => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "normal", 0);
    const missing = "job_01900000-0000-7000-8000-000000000000";
    for (const action of ["ack", "release"]) {
      for (const [path, message] of [
        [`/v1/queues/${queue}/jobs/${missing}/${action}`, `job '${missing}' not found`],
        [`/v1/queues/${queue}/jobs/not-a-job/${action}`, "job 'not-a-job' not found"],
        [`/v1/queues/${unique("other")}/jobs/${jobId}/${action}`, "in queue 'other-"],
      ] as const) {
        const res = await api("POST", path, {});
        expect(res.status, path).toBe(404);
        expect(res.body.error).toMatchObject({ code: "not_found" });
        expect(res.body.error.message).toContain(message);
      }
    }
    expect((await api("GET", `/v1/queues/${queue}/jobs/${missing}`)).status).toBe(404);
    expect((await api("GET", `/v1/queues/${unique("other")}/jobs/${jobId}`)).status).toBe(404);
  });

  it("ack/release without a live lease → 409; bad ack/release bodies → 400", async () => {
    const queue = unique("q");
    const jobId = await seedJob(queue, "normal", 0);
    const ack = `/v1/queues/${queue}/jobs/${jobId}/ack`;
    const release = `/v1/queues/${queue}/jobs/${jobId}/release`;
    for (const path of [ack, release]) {
      const res = await api("POST", path, {});
      expect(res.status).toBe(409);
      expect(res.body.error.message).toBe(`job '${jobId}' is not leased: claim it first`);
    }
    await claim(queue, { consumer_id: "w1" });
    const bad: [string, unknown][] = [
      [ack, { response: 1, extra: true }],
      [ack, { consumer_id: "push:ECHO" }],
      [ack, { response: JSON.parse(`${"[".repeat(200)}${"]".repeat(200)}`) }],
      [ack, "not json"],
      [release, { response: {} }],
      [release, { consumer_id: 5 }],
    ];
    for (const [path, body] of bad) {
      const res = await api("POST", path, body);
      expect(res.status, JSON.stringify(body).slice(0, 60)).toBe(400);
    }
    // Still leased by w1: nothing was half-applied.
    expect(await getJob(env.DB, jobId)).toMatchObject({ state: "leased", consumerId: "w1" });
  });

  it("requires the bearer token", async () => {
    const res = await exports.default.fetch(`${BASE}/v1/queues/q/claim`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ consumer_id: "c" }),
    });
    expect(res.status).toBe(401);
    const stats = await exports.default.fetch(`${BASE}/v1/queues/q`);
    expect(stats.status).toBe(401);
  });
});
