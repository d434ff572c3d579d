/**
 * SPEC 12.1/16 SSRF guard end to end: with private targets disallowed, handler and classifier calls to
 * private, loopback, link-local and IPv6-mapped addresses are refused before any request; redirects are
 * never followed, so a public handler cannot bounce a dispatch to an internal address.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { TriggerEvent } from "../../../src/contracts/events";
import type { AttemptContext } from "../../../src/handlers/envelope";
import { invokeHandler } from "../../../src/handlers/invoke";
import { callClassifier } from "../../../src/predicates/classifier-call";
import { api, handler, unique, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

const guarded = { ...env, ALLOW_PRIVATE_TARGETS: "false" } as Env;

const event: TriggerEvent = {
  id: "evt_ssrf",
  provider: "github",
  kind: "push",
  received_at: new Date().toISOString(),
  occurred_at: null,
  dedupe_key: "d",
  trace_id: "trace_ssrf",
  tenant_id: null,
  headers: {},
  payload: {},
  signature_status: { state: "unsigned" },
};

const context = (target: string): AttemptContext => ({
  dispatch_id: "b@v1|evt_ssrf",
  binding_key: "b@v1",
  binding_id: "b",
  event_id: event.id,
  trace_id: event.trace_id,
  attempt: 1,
  replay_of_event_id: null,
  autonomy_tier: "act_auto",
  timeout_ms: 2_000,
  signing_secret: "whsec_dGVzdA==",
  handler: target,
  binding_version: 1,
  allow_cleartext: false,
  dispatch_priority: "normal",
});

describe("SSRF guard", () => {
  const hook = unique("ssrf");
  const internal = [
    handler.url(hook), // the loopback test server itself
    "http://localhost:9/h",
    "http://10.0.0.8/h",
    "http://172.16.5.4/h",
    "http://192.168.1.1/h",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/h",
    "http://[::ffff:127.0.0.1]/h",
    "http://[::ffff:a9fe:a9fe]/h",
    "http://[fe80::1]/h",
    "http://[fd00::1]/h",
    "http://2130706433/h",
    "http://0x7f000001/h",
    "http://127.1/h",
    "http://metadata.internal/h",
  ];

  it.each(internal)("refuses %s before sending anything", async (target) => {
    await handler.script(hook, { responses: [], otherwise: { status: 200 } });
    const result = await invokeHandler({ env: guarded, now: Date.now }, context(target), event);
    expect(result.kind).toBe("invalid");
    expect("error" in result ? result.error : "").toMatch(/private, loopback or link-local/);
    const classified = await callClassifier(
      guarded,
      {
        classifier: target,
        dispatch_id: "b@v1|evt_ssrf",
        binding_id: "b",
        binding_key: "b@v1",
        trace_id: event.trace_id,
        signing_secret: "",
        timeout_ms: 2_000,
        event,
      },
      Date.now,
    );
    expect(classified).toMatchObject({
      kind: "error",
      error: expect.stringMatching(/private, loopback or link-local/),
    });
    expect(await handler.calls(hook)).toEqual([]);
  });

  it("does not follow a redirect to an internal address", async () => {
    const inner = unique("inner");
    const bounce = unique("bounce");
    await handler.script(inner, { responses: [], otherwise: { status: 200, body: { reached: true } } });
    await handler.script(bounce, {
      responses: [],
      otherwise: { status: 302, headers: { location: handler.url(inner) } },
    });
    const b = await bindingTo(handler.url(bounce), { retry: { max_attempts: 1, policy: "svix" } });
    const { event_id } = await publish(b.provider);
    const done = await waitForDispatch(b.bindingKey, event_id, ["dlq", "failed", "succeeded"]);
    expect(done.status).not.toBe("succeeded");
    expect(done.attempts[0]).toMatchObject({ status_code: 302 });
    expect(await handler.calls(bounce)).toHaveLength(1);
    expect(await handler.calls(inner)).toEqual([]);
  });

  it("refuses hostile handler URIs at binding creation", async () => {
    for (const target of ["javascript:alert(1)", "file:///etc/passwd", "data:text/plain,x", "ftp://example.com/x"]) {
      const res = await api("PUT", `/v1/bindings/${unique("bad")}`, { provider: "github", handler: target });
      expect(res.status, target).toBe(400);
    }
  });
});
