import { exports } from "cloudflare:workers";
import { sign } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import { api, BASE, handler, unique, waitForDispatch } from "../support/api";

async function githubSource(secret: string) {
  const name = unique("gh");
  const res = await api("PUT", `/v1/sources/${name}`, { verify: { style: "github", secret } });
  expect(res.status).toBe(201);
  return name;
}

async function sendGithub(source: string, secret: string, body: object, delivery = crypto.randomUUID()) {
  const text = JSON.stringify(body);
  return exports.default.fetch(`${BASE}/hooks/${source}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-github-event": "issues",
      "x-github-delivery": delivery,
      "x-hub-signature-256": await sign(secret, text),
    },
    body: text,
  });
}

describe("intake → binding → dispatch", () => {
  it("delivers a signed GitHub webhook to an HTTP handler and records a succeeded dispatch", async () => {
    const secret = "gh-secret";
    const source = await githubSource(secret);
    const hook = unique("ok");
    await handler.script(hook, { responses: [{ status: 200, body: { handled: true } }] });
    const bindingId = unique("b");
    const put = await api("PUT", `/v1/bindings/${bindingId}`, {
      provider: "github",
      events: ["issues.opened"],
      handler: handler.url(hook),
    });
    expect(put.status).toBe(201);
    const bindingKey = put.body.binding_key;

    const res = await sendGithub(source, secret, { action: "opened", issue: { number: 1 } });
    expect(res.status).toBe(202);
    const accepted = (await res.json()) as { event_id: string; trace_id: string };

    const dispatch = await waitForDispatch(bindingKey, accepted.event_id, ["succeeded", "dlq", "failed"]);
    expect(dispatch.status).toBe("succeeded");
    expect(dispatch.attempt_count).toBe(1);
    expect(dispatch.result).toEqual({ handled: true });
    expect(dispatch.attempts).toHaveLength(1);

    const calls = await handler.calls(hook);
    expect(calls).toHaveLength(1);
    const envelope = JSON.parse(calls[0].body);
    expect(envelope.type).toBe("switchyard.dispatch");
    expect(envelope.event.kind).toBe("issues.opened");
    expect(calls[0].headers["webhook-id"]).toBe(`${bindingKey}/${accepted.event_id}`);

    const records = await api(
      "GET",
      `/v1/records?event_id=${accepted.event_id}&binding_key=${encodeURIComponent(bindingKey)}`,
    );
    const kinds = records.body.items.map((r: { topic: string; kind: string }) => `${r.topic}:${r.kind}`);
    const order = [
      "triggers.lifecycle:DispatchStarted",
      "trigger.attempts:attempt_recorded",
      "triggers.lifecycle:DispatchSucceeded",
      "trigger.outbox:dispatch_succeeded",
    ];
    expect(order.map((k) => kinds.indexOf(k))).toEqual([...order.map((k) => kinds.indexOf(k))].sort((a, b) => a - b));
    expect(order.every((k) => kinds.includes(k))).toBe(true);
  });

  it("retries 500, 500, 200 under a linear policy and ends succeeded with 3 attempts", async () => {
    const secret = "s2";
    const source = await githubSource(secret);
    const hook = unique("flaky");
    await handler.script(hook, { responses: [{ status: 500 }, { status: 500 }, { status: 200, body: { ok: 1 } }] });
    const put = await api("PUT", `/v1/bindings/${unique("b")}`, {
      provider: "github",
      handler: handler.url(hook),
      retry: { max_attempts: 5, policy: { linear: { delay_ms: 100 } } },
    });
    const res = await sendGithub(source, secret, { action: "opened" });
    const { event_id } = (await res.json()) as { event_id: string };
    const dispatch = await waitForDispatch(put.body.binding_key, event_id, ["succeeded", "dlq", "failed"]);
    expect(dispatch.status).toBe("succeeded");
    expect(dispatch.attempt_count).toBe(3);
    expect(dispatch.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(["failed", "failed", "succeeded"]);
  });

  it("dead-letters a handler that always fails with retry_exhausted", async () => {
    const secret = "s3";
    const source = await githubSource(secret);
    const hook = unique("down");
    await handler.script(hook, { responses: [], otherwise: { status: 503, body: { error: "service unavailable" } } });
    const put = await api("PUT", `/v1/bindings/${unique("b")}`, {
      provider: "github",
      handler: handler.url(hook),
      retry: { max_attempts: 3, policy: { linear: { delay_ms: 50 } } },
    });
    const res = await sendGithub(source, secret, { action: "closed" });
    const { event_id } = (await res.json()) as { event_id: string };
    const dispatch = await waitForDispatch(put.body.binding_key, event_id, ["succeeded", "dlq", "failed"]);
    expect(dispatch.status).toBe("dlq");
    expect(dispatch.attempt_count).toBe(3);
    const dlq = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(put.body.binding_key)}`);
    expect(dlq.body.items).toHaveLength(1);
    expect(dlq.body.items[0].reason).toBe("retry_exhausted");
    expect(dlq.body.items[0].error_class).toBe("provider_5xx");
    const detail = await api("GET", `/v1/dlq/${dlq.body.items[0].id}`);
    expect(detail.body.attempts).toHaveLength(3);
  });
});
