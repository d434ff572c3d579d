/** SPEC 9.3 rate_limit (drop) with a CEL key, end to end through intake, the gate and the handler. */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { waitForDispatch } from "../../support/api";
import { fireGateTimers } from "../../support/storage";
import {
  arrive,
  auditEventually,
  auditTopic,
  callsOf,
  flowBinding,
  gateStats,
  recordsOf,
  skippedBy,
  TERMINAL,
} from "./support";

describe("rate_limit", () => {
  it("drops the third event of a customer within the period and admits other customers", async () => {
    const b = await flowBinding(
      { rate_limit: { key: "event.payload.customer", period: "1h", max: 2 } },
      { responses: [], otherwise: { status: 200, body: { ok: true } } },
    );
    // A key with characters outside [A-Za-z0-9._-] shows the topic sanitisation.
    const customer = "acme corp/eu";
    const first = await arrive(b, { customer }, TERMINAL);
    const second = await arrive(b, { customer }, TERMINAL);
    const third = await arrive(b, { customer }, TERMINAL);
    const other = await arrive(b, { customer: "globex" }, TERMINAL);

    expect(first.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(second.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
    expect(third.detail).toMatchObject(skippedBy("rate_limited"));
    expect(third.detail.attempts).toEqual([]);
    expect(other.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });

    // The dropped event never reached the handler.
    const calls = await callsOf(b.hook);
    expect(calls.map((c) => c.event_id).sort()).toEqual([first.event_id, second.event_id, other.event_id].sort());

    // Outbox: dispatch_skipped at the flow_control stage with the reason as detail.
    const skipped = await recordsOf(third.event_id, "trigger.outbox", "dispatch_skipped");
    expect(skipped).toHaveLength(1);
    expect(skipped[0]?.payload).toMatchObject({
      status: "skipped",
      attempt_count: 0,
      skip_stage: "flow_control",
      detail: { skipped: true, flow_control: "rate_limited" },
    });
    // …and no attempt records at all.
    expect(await recordsOf(third.event_id, "trigger.attempts")).toEqual([]);
    expect(await recordsOf(third.event_id, "trigger.outbox", "dispatch_started")).toEqual([]);

    // Audit: one topic per gate `<binding_key>:<key>`, sanitised.
    const gate = `${b.bindingKey}:${customer}`;
    expect(auditTopic("rate_limit", gate)).toBe(`trigger.rate_limit.${b.bindingKey.replace("@", "_")}_acme_corp_eu`);
    const audit = await auditEventually("rate_limit", gate, 3);
    expect(audit.map((r) => [r.kind, r.event_id])).toEqual([
      ["rate_limit_allowed", first.event_id],
      ["rate_limit_allowed", second.event_id],
      ["rate_limit_blocked", third.event_id],
    ]);
    expect(audit[2]?.payload).toMatchObject({ gate, count: 2, max: 2, period_ms: 3_600_000 });
    const otherAudit = await auditEventually("rate_limit", `${b.bindingKey}:globex`, 1);
    expect(otherAudit.map((r) => [r.kind, r.event_id])).toEqual([["rate_limit_allowed", other.event_id]]);

    // Stats: the window of each gate.
    expect(await gateStats(b.bindingKey, "rate_limit", gate)).toMatchObject({ limit: 2, window: 2 });
    expect(await gateStats(b.bindingKey, "rate_limit", `${b.bindingKey}:globex`)).toMatchObject({ window: 1 });

    // Still dropped later in the period.
    const fourth = await arrive(b, { customer }, TERMINAL);
    expect(fourth.detail).toMatchObject(skippedBy("rate_limited"));
  });

  it("admits again once the period has passed", async () => {
    const b = await flowBinding(
      { rate_limit: { key: "event.payload.customer", period: "600ms", max: 1 } },
      { responses: [], otherwise: { status: 200 } },
    );
    const first = await arrive(b, { customer: "acme" }, TERMINAL);
    const second = await arrive(b, { customer: "acme" }, TERMINAL);
    expect(first.detail.status).toBe("succeeded");
    expect(second.detail).toMatchObject(skippedBy("rate_limited"));
    await new Promise((r) => setTimeout(r, 700));
    const third = await arrive(b, { customer: "acme" }, TERMINAL);
    expect(third.detail).toMatchObject({ status: "succeeded", attempt_count: 1 });
  });

  it("skips with key_error when the key cannot be evaluated, consuming nothing", async () => {
    const b = await flowBinding(
      { rate_limit: { key: "event.payload.customer", period: "1h", max: 1 } },
      { responses: [], otherwise: { status: 200 } },
    );
    const { event_id } = await arrive(b, { nobody: true }, TERMINAL);
    const d = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
    expect(d).toMatchObject({
      status: "skipped",
      attempt_count: 0,
      result: { skipped: true, flow_control: "key_error" },
    });
    expect(typeof d.result.error).toBe("string");
    const ok = await arrive(b, { customer: "acme" }, TERMINAL);
    expect(ok.detail.status).toBe("succeeded");
  });

  it("the gate's retention timer sweeps expired sliding-log entries of idle gates", async () => {
    const b = await flowBinding(
      { rate_limit: { key: "event.payload.customer", period: "200ms", max: 5 } },
      { responses: [], otherwise: { status: 200 } },
    );
    for (const customer of ["a", "b", "c"])
      expect((await arrive(b, { customer }, TERMINAL)).detail.status).toBe("succeeded");
    await new Promise((r) => setTimeout(r, 300));
    const stub = env.BINDING_GATE.getByName(b.bindingKey);
    const logRows = () =>
      runInDurableObject(
        stub,
        (_instance, state) => state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM flow_log").one().n,
      );
    // Each key's gate is idle now: nothing prunes its log on the next admission.
    expect(await logRows()).toBe(3);
    await fireGateTimers(b.bindingKey, "flow_sweep");
    expect(await logRows()).toBe(0);
    expect(await gateStats(b.bindingKey, "rate_limit", `${b.bindingKey}:a`)).toBeUndefined();
  });

  it("stacks limits per user and per project: every window must have room, the skip names the full one", async () => {
    const b = await flowBinding(
      {
        rate_limit: [
          { key: "event.payload.user", period: "1h", max: 1 },
          { key: "event.payload.project", period: "1h", max: 2 },
        ],
      },
      { responses: [], otherwise: { status: 200 } },
    );
    const first = await arrive(b, { user: "ann", project: "apollo" }, TERMINAL);
    const sameUser = await arrive(b, { user: "ann", project: "apollo" }, TERMINAL);
    const second = await arrive(b, { user: "bob", project: "apollo" }, TERMINAL);
    const projectFull = await arrive(b, { user: "cat", project: "apollo" }, TERMINAL);
    expect(first.detail.status).toBe("succeeded");
    expect(second.detail.status).toBe("succeeded");
    expect(sameUser.detail).toMatchObject({
      status: "skipped",
      result: { skipped: true, flow_control: "rate_limited", limit_index: 0 },
    });
    expect(projectFull.detail).toMatchObject({
      status: "skipped",
      result: { skipped: true, flow_control: "rate_limited", limit_index: 1 },
    });
    const skipped = await recordsOf(projectFull.event_id, "trigger.outbox", "dispatch_skipped");
    expect(skipped[0]?.payload).toMatchObject({ detail: { flow_control: "rate_limited", limit_index: 1 } });

    // Each limit audits on its own gate (`…#<index>`); a skip counted against none.
    const project = `${b.bindingKey}:apollo#1`;
    const audit = await auditEventually("rate_limit", project, 3);
    expect(audit.map((r) => [r.kind, r.event_id, r.payload.limit_index])).toEqual([
      ["rate_limit_allowed", first.event_id, 1],
      ["rate_limit_allowed", second.event_id, 1],
      ["rate_limit_blocked", projectFull.event_id, 1],
    ]);
    const ann = await auditEventually("rate_limit", `${b.bindingKey}:ann#0`, 2);
    expect(ann.map((r) => [r.kind, r.event_id])).toEqual([
      ["rate_limit_allowed", first.event_id],
      ["rate_limit_blocked", sameUser.event_id],
    ]);
    expect(await gateStats(b.bindingKey, "rate_limit", project)).toMatchObject({ limit: 2, window: 2 });
    expect(await gateStats(b.bindingKey, "rate_limit", `${b.bindingKey}:cat#0`)).toBeUndefined();
  });
});
