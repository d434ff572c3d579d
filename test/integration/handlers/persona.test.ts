/**
 * SPEC 12.4 end to end: publish → inbox → BindingGate → dispatch consumer → PERSONA.invoke over Workers
 * RPC to the persona stand-in (workers/persona-standin, an auxiliary worker here).
 */
import { describe, expect, it } from "vitest";
import { api, waitForDispatch } from "../../support/api";
import { bindingTo } from "../../support/dispatch";

const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
const fast = { retry: { max_attempts: 3, policy: { linear: { delay_ms: 20 } } } };

async function publishTo(provider: string, extra: Record<string, unknown> = {}) {
  const res = await api("POST", "/v1/events", {
    provider,
    kind: "issues.opened",
    headers: { "X-GitHub-Event": "issues", "x-request-id": "req-7" },
    dedupe_key: `persona-${provider}`,
    tenant_id: "acme",
    payload: {
      action: "opened",
      issue: { number: 42, title: "Crash on start", draft: false, labels: [{ name: "bug" }, { name: "p1" }] },
      repository: { full_name: "acme/app", owner: { login: "acme" } },
      assignee: null,
    },
    ...extra,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { event_id: string; trace_id: string };
}

describe("persona:// handlers", () => {
  it("delivers the flattened metadata over the PERSONA service binding; the receipt is the result", async () => {
    const b = await bindingTo("persona://triage-bot");
    const { event_id, trace_id } = await publishTo(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "succeeded",
      attempt_count: 1,
      handler_kind: "persona",
      target_uri: "persona://triage-bot",
      error: null,
    });
    expect(d.result).toMatchObject({
      persona: "triage-bot",
      accepted: true,
      receipt_id: expect.stringMatching(/^rcpt_/),
      received_at: expect.any(String),
      kind: "issues.opened",
      provider: b.provider,
      attempt: 1,
      trace_id,
      binding_key: b.bindingKey,
      replay_of_event_id: null,
      autonomy_tier: expect.any(String),
      idempotency_key: `${b.bindingKey}/${event_id}`,
    });
    expect(d.result.metadata_keys).toEqual(
      [
        "trigger_event_id",
        "event_id",
        "dedupe_key",
        "trace_id",
        "tenant_id",
        "header.x-github-event",
        "header.x-request-id",
        "action",
        "issue.number",
        "issue.title",
        "issue.draft",
        "issue.labels.0.name",
        "issue.labels.1.name",
        "repository.full_name",
        "repository.owner.login",
      ].sort(),
    );
    expect(d.result.metadata).toMatchObject({
      trigger_event_id: event_id,
      event_id,
      dedupe_key: `persona-${b.provider}`,
      trace_id,
      tenant_id: "acme",
      "header.x-github-event": "issues",
      "issue.number": "42",
      "issue.draft": "false",
      "issue.labels.1.name": "p1",
      "repository.owner.login": "acme",
    });
  });

  it("retries a persona that throws and dead-letters it as retry_exhausted", async () => {
    const b = await bindingTo("persona://failing", fast);
    const { event_id } = await publishTo(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "dlq",
      attempt_count: 3,
      error: "persona 'failing' failed: persona 'failing' is scripted to fail (attempt 3)",
    });
    expect(d.attempts.map((a: { error_msg: string }) => a.error_msg)).toEqual(
      [1, 2, 3].map((n) => `persona 'failing' failed: persona 'failing' is scripted to fail (attempt ${n})`),
    );
    const dlq = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
    expect(dlq.body.items).toHaveLength(1);
    expect(dlq.body.items[0]).toMatchObject({ reason: "retry_exhausted", error_class: "unknown" });
  });

  it("a persona that fails once succeeds on the retry with the attempt number passed through", async () => {
    const b = await bindingTo("persona://flaky", fast);
    const { event_id } = await publishTo(b.provider);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "succeeded", attempt_count: 2, result: { persona: "flaky", attempt: 2 } });
    expect(d.attempts[0].error_msg).toBe("persona 'flaky' failed: persona 'flaky' fails its first attempt");
  });

  it("stops waiting for a slow persona at the binding's timeout", async () => {
    const b = await bindingTo("persona://slow", { timeout_ms: 300, retry: { max_attempts: 1, policy: "svix" } });
    const { event_id } = await publishTo(b.provider, {
      payload: { delay_ms: 3000 },
      dedupe_key: `slow-${b.provider}`,
    });
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({ status: "dlq", attempt_count: 1, error: "handler timed out after 300ms" });
    const dlq = await api("GET", `/v1/dlq?binding_key=${encodeURIComponent(b.bindingKey)}`);
    expect(dlq.body.items[0]).toMatchObject({ reason: "retry_exhausted", error_class: "handler_timeout" });
  });

  it("a cancel request stops waiting for the persona call in flight", async () => {
    const b = await bindingTo("persona://slow", { timeout_ms: "30s" });
    const { event_id } = await publishTo(b.provider, {
      payload: { delay_ms: 20_000 },
      dedupe_key: `cancel-${b.provider}`,
    });
    const path = `/v1/dispatches/${encodeURIComponent(b.bindingKey)}/${event_id}`;
    await waitForDispatch(b.bindingKey, event_id, ["running"]);
    const res = await api("POST", `${path}/cancel`, { reason: "stop" });
    expect(res.status).toBe(202);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL, 5_000);
    expect(d).toMatchObject({
      status: "cancelled",
      attempt_count: 1,
      error: "trigger cancel request cancelled handler",
    });
  });
});
