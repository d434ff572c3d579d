/** `GET /metrics` end to end: intake and dispatches through the real entry points, read back as Prometheus text. */
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/http/app";
import { api, BASE, unique, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";
import { parseExposition } from "../../unit/observability/exposition-grammar";
import { createSource, hmacHex, postHook } from "../intake/support";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];

async function scrape(headers: Record<string, string> = {}) {
  const res = await exports.default.fetch(`${BASE}/metrics`, { headers });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const samples = parseExposition(text);
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;
  return { text, samples, value };
}

async function githubDelivery(source: string, secret: string, body: string, delivery: string) {
  return postHook(source, body, {
    "content-type": "application/json",
    "x-github-event": "issues",
    "x-github-delivery": delivery,
    "x-hub-signature-256": `sha256=${await hmacHex(secret, body)}`,
  });
}

describe("/metrics", () => {
  it("is public without METRICS_TOKEN and parses as the text format", async () => {
    const { text } = await scrape();
    for (const name of [
      "switchyard_dispatches_total",
      "switchyard_dispatches_open",
      "switchyard_retries_total",
      "switchyard_dlq_total",
      "switchyard_dlq_pending",
      "switchyard_intake_total",
      "switchyard_intake_rejected_total",
      "switchyard_circuit_transitions_total",
      "switchyard_queue_age_seconds",
      "switchyard_attempt_duration_seconds",
      "switchyard_dlq_age_seconds",
    ]) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, "m"));
    }
  });

  it("with METRICS_TOKEN set, requires that bearer token", async () => {
    const app = createApp();
    const withToken = { ...env, METRICS_TOKEN: "scrape-secret" };
    const none = await app.request("/metrics", {}, withToken);
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect((await none.json()) as unknown).toMatchObject({ error: { code: "unauthorized" } });
    const wrong = await app.request("/metrics", { headers: { authorization: "Bearer nope" } }, withToken);
    expect(wrong.status).toBe(401);
    // The admin token is not the metrics token.
    const admin = await app.request("/metrics", { headers: { authorization: "Bearer test-admin-token" } }, withToken);
    expect(admin.status).toBe(401);
    const ok = await app.request("/metrics", { headers: { authorization: "Bearer scrape-secret" } }, withToken);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain("# TYPE switchyard_dispatches_total counter");
    // An empty token means unset.
    expect((await app.request("/metrics", {}, { ...env, METRICS_TOKEN: "" })).status).toBe(200);
  });

  it("counts dispatches by final status, live ones as a gauge, retries, DLQ and the histograms", async () => {
    const before = await scrape();
    const ok = await scriptedBinding({ responses: [], otherwise: { status: 200 } });
    const flaky = await scriptedBinding(
      { responses: [{ status: 500 }, { status: 500 }], otherwise: { status: 200 } },
      { retry: { max_attempts: 3, policy: { linear: { delay_ms: 10 } } } },
    );
    const down = await scriptedBinding(
      { responses: [], otherwise: { status: 500 } },
      { retry: { max_attempts: 2, policy: { linear: { delay_ms: 10 } } } },
    );
    const events = [await publish(ok.provider), await publish(ok.provider), await publish(flaky.provider)];
    const dead = await publish(down.provider);
    await waitForDispatch(ok.bindingKey, events[0]!.event_id, TERMINAL);
    await waitForDispatch(ok.bindingKey, events[1]!.event_id, TERMINAL);
    expect(await waitForDispatch(flaky.bindingKey, events[2]!.event_id, TERMINAL)).toMatchObject({
      status: "succeeded",
      attempt_count: 3,
    });
    expect(await waitForDispatch(down.bindingKey, dead.event_id, TERMINAL)).toMatchObject({ status: "dlq" });

    const after = await scrape();
    const https = { handler_kind: "https", status: "succeeded" };
    expect(after.value("switchyard_dispatches_total", { trigger: ok.id, ...https })).toBe(2);
    expect(after.value("switchyard_dispatches_total", { trigger: flaky.id, ...https })).toBe(1);
    expect(after.value("switchyard_dispatches_total", { trigger: down.id, status: "dlq" })).toBe(1);
    expect(after.value("switchyard_dispatches_open", { trigger: ok.id })).toBe(0);
    expect(after.value("switchyard_retries_total", { trigger: flaky.id })).toBe(2);
    expect(after.value("switchyard_retries_total", { trigger: down.id })).toBe(1);
    expect(after.value("switchyard_retries_total", { trigger: ok.id })).toBe(0);
    const delta = (name: string, labels: Record<string, string> = {}) =>
      after.value(name, labels) - before.value(name, labels);
    expect(delta("switchyard_dlq_total", { reason: "retry_exhausted" })).toBe(1);
    expect(delta("switchyard_dlq_pending")).toBe(1);
    // One first attempt per dispatch; every attempt completed: 2 + 3 + 2 attempts, 4 dispatches.
    expect(delta("switchyard_queue_age_seconds_count")).toBe(4);
    expect(delta("switchyard_attempt_duration_seconds_count")).toBe(7);
    expect(delta("switchyard_dlq_age_seconds_count")).toBe(1);
    expect(delta("switchyard_queue_age_seconds_bucket", { le: "+Inf" })).toBe(4);
    expect(delta("switchyard_intake_total", { source: "_api", outcome: "accepted" })).toBe(4);
  });

  it("counts intake accepted, duplicate and rejected per source, durably", async () => {
    const secret = "gh-secret-metrics";
    const source = await createSource("gh", { provider: "github", verify: { style: "github", secret } });
    const body = JSON.stringify({ action: "opened", issue: { number: 1 } });
    const delivery = unique("delivery");
    expect((await githubDelivery(source, secret, body, delivery)).status).toBe(202);
    expect((await githubDelivery(source, secret, body, delivery)).status).toBe(200);
    expect((await githubDelivery(source, secret, body, delivery)).status).toBe(200);
    expect((await githubDelivery(source, "wrong-secret", body, unique("delivery"))).status).toBe(401);
    expect((await githubDelivery(source, secret, "not json", unique("delivery"))).status).toBe(400);
    // Unknown sources are not counted (their names are unbounded input).
    expect((await postHook("no-such-source-here", body)).status).toBe(404);

    const dedupe = unique("k");
    const before = await scrape();
    const first = await api("POST", "/v1/events", { provider: "p", kind: "k", payload: {}, dedupe_key: dedupe });
    expect(first.status).toBe(202);
    expect(
      (await api("POST", "/v1/events", { provider: "p", kind: "k", payload: {}, dedupe_key: dedupe })).status,
    ).toBe(200);
    expect((await api("POST", "/v1/events", { kind: "missing provider" })).status).toBe(400);

    const m = await scrape();
    expect(m.value("switchyard_intake_total", { source, outcome: "accepted" })).toBe(1);
    expect(m.value("switchyard_intake_total", { source, outcome: "duplicate" })).toBe(2);
    expect(m.value("switchyard_intake_total", { source, outcome: "rejected" })).toBe(2);
    expect(m.value("switchyard_intake_rejected_total", { source, reason: "signature_invalid" })).toBe(1);
    expect(m.value("switchyard_intake_rejected_total", { source, reason: "bad_request" })).toBe(1);
    expect(m.samples.some((s) => s.labels.source === "no-such-source-here")).toBe(false);
    const api_ = (outcome: string) =>
      m.value("switchyard_intake_total", { source: "_api", outcome }) -
      before.value("switchyard_intake_total", { source: "_api", outcome });
    expect([api_("accepted"), api_("duplicate"), api_("rejected")]).toEqual([1, 1, 1]);
    // The signature rejection still leaves its audit record beside the counter.
    const audit = await api("GET", "/v1/records?topic=audit.signature_verify&kind=signature_rejected&limit=500");
    expect(audit.body.items.some((r: { payload: { source: string } }) => r.payload.source === source)).toBe(true);
  });
});
