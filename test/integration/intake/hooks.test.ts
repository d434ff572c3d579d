import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import { unique } from "../../support/api";
import {
  createSource,
  eventsOfSource,
  expectError,
  hmacHex,
  JSON_CT,
  postHook,
  readAccepted,
  sha256Hex,
  signatureRecords,
  utf8Base64,
} from "./support";

const nowS = () => Math.floor(Date.now() / 1000);

/** A rejected delivery: 401 naming the reason, an audit record without secrets or body, no event. */
async function expectRejected(
  source: string,
  res: { status: number; body: unknown },
  reason: string,
  secrets: string[],
  bodyMarker: string,
) {
  const error = expectError(res, 401, "signature_invalid");
  expect(error.details).toMatchObject({ reason });
  expect(error.message.length).toBeGreaterThan(0);
  const records = await signatureRecords(source);
  const rejected = records.filter((r) => r.kind === "signature_rejected");
  expect(rejected.length).toBeGreaterThan(0);
  const last = rejected.at(-1);
  expect(last.payload).toMatchObject({ source, reason });
  const text = JSON.stringify(rejected);
  for (const secret of secrets) expect(text).not.toContain(secret);
  expect(text).not.toContain(bodyMarker);
  expect(await eventsOfSource(source)).toHaveLength(0);
}

describe("POST /hooks/:source — github", () => {
  const secret = "gh-secret-Ab12";

  it("accepts a signed delivery and stores the normalised event with redacted headers and exact raw body", async () => {
    const source = await createSource("gh", { verify: { style: "github", secret } });
    // Odd spacing and non-ASCII so the raw bytes differ from any re-serialisation.
    const body = '{ "action": "opened",  "issue": {"title": "héllo ✓"} }';
    const delivery = crypto.randomUUID();
    const res = await postHook(source, body, {
      ...JSON_CT,
      "x-github-event": "issues",
      "x-github-delivery": delivery,
      "x-hub-signature-256": await githubSign(secret, body),
      authorization: "Bearer provider-token",
      "x-api-key": "k-123",
      cookie: "session=abc",
      "x-client-secret": "zzz",
      "user-agent": "GitHub-Hookshot/abc",
    });
    const event = await readAccepted(res);
    expect(event).toMatchObject({
      provider: "github",
      kind: "issues.opened",
      dedupe_key: delivery,
      occurred_at: null,
      tenant_id: null,
      signature_status: { state: "verified" },
      payload: { action: "opened", issue: { title: "héllo ✓" } },
      raw_body: utf8Base64(body),
    });
    expect(event.headers).toMatchObject({
      authorization: "[redacted]",
      "x-api-key": "[redacted]",
      cookie: "[redacted]",
      "x-client-secret": "[redacted]",
      "x-github-delivery": delivery,
      "x-github-event": "issues",
      "user-agent": "GitHub-Hookshot/abc",
      "content-type": "application/json",
    });
    expect(event.headers["x-hub-signature-256"]).toMatch(/^sha256=[0-9a-f]{64}$/);
    const json = JSON.stringify(event);
    expect(json).not.toContain("provider-token");
    expect(json).not.toContain("k-123");
    expect(json).not.toContain("session=abc");

    const records = await signatureRecords(source);
    expect(records.map((r) => r.kind)).toContain("signature_verified");
  });

  it("uses the header alone as kind when the body has no action, and honours x-switchyard-trace-id", async () => {
    const source = await createSource("gh", { verify: { style: "github", secret } });
    const body = JSON.stringify({ zen: "Keep it logically awesome." });
    const res = await postHook(source, body, {
      ...JSON_CT,
      "x-github-event": "ping",
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": await githubSign(secret, body),
      "x-switchyard-trace-id": "trace_from-caller.1",
    });
    const event = await readAccepted(res);
    expect(event.kind).toBe("ping");
    expect(res.body.trace_id).toBe("trace_from-caller.1");
  });

  it("rejects a wrong signature, a missing header and a malformed header with 401 and an audit record", async () => {
    const source = await createSource("gh", { verify: { style: "github", secret } });
    const body = JSON.stringify({ action: "opened", marker: "BODY-MARKER-gh" });
    const headers = { ...JSON_CT, "x-github-event": "issues", "x-github-delivery": crypto.randomUUID() };

    const wrong = await postHook(source, body, {
      ...headers,
      "x-hub-signature-256": await githubSign("not-the-secret", body),
    });
    await expectRejected(source, wrong, "mismatch", [secret], "BODY-MARKER-gh");

    const tampered = await postHook(source, body.replace("opened", "closed"), {
      ...headers,
      "x-hub-signature-256": await githubSign(secret, body),
    });
    await expectRejected(source, tampered, "mismatch", [secret], "BODY-MARKER-gh");

    await expectRejected(source, await postHook(source, body, headers), "missing_header", [secret], "BODY-MARKER-gh");
    await expectRejected(
      source,
      await postHook(source, body, { ...headers, "x-hub-signature-256": "sha1=abcdef" }),
      "bad_format",
      [secret],
      "BODY-MARKER-gh",
    );
    const records = await signatureRecords(source);
    expect(records.filter((r) => r.kind === "signature_rejected")).toHaveLength(4);
  });

  it("accepts every configured secret (key rotation)", async () => {
    const [oldSecret, newSecret] = ["rotate-old-1", "rotate-new-2"];
    const source = await createSource("gh", { verify: { style: "github", secrets: [oldSecret, newSecret] } });
    for (const s of [oldSecret, newSecret]) {
      const body = JSON.stringify({ action: "edited", signed_with: s });
      const res = await postHook(source, body, {
        ...JSON_CT,
        "x-github-event": "issues",
        "x-github-delivery": crypto.randomUUID(),
        "x-hub-signature-256": await githubSign(s, body),
      });
      const event = await readAccepted(res);
      expect(event.signature_status).toEqual({ state: "verified" });
    }
    // Both `secret` and `secrets` given at once also all count.
    const both = await createSource("gh", { verify: { style: "github", secret: "single-1", secrets: ["list-2"] } });
    const body = JSON.stringify({ action: "x" });
    const res = await postHook(both, body, {
      ...JSON_CT,
      "x-github-event": "issues",
      "x-hub-signature-256": await githubSign("single-1", body),
    });
    expect(res.status).toBe(202);
    expect(await eventsOfSource(source)).toHaveLength(2);
  });

  it("answers 400 for a correctly signed body that is not JSON, and 415 for a non-JSON content type", async () => {
    const source = await createSource("gh", { verify: { style: "github", secret } });
    const body = "{ this is not json";
    const signed = { "x-github-event": "issues", "x-hub-signature-256": await githubSign(secret, body) };
    expectError(await postHook(source, body, { ...JSON_CT, ...signed }), 400, "bad_request");
    expectError(await postHook(source, body, { ...signed, "content-type": "text/plain" }), 415);
    expect(await eventsOfSource(source)).toHaveLength(0);
  });
});

describe("POST /hooks/:source — other styles", () => {
  it("stripe: verifies Stripe-Signature, derives kind, dedupe key and occurred_at", async () => {
    const secret = "whsec_stripe_test_123";
    const source = await createSource("stripe", { verify: { style: "stripe", secret } });
    const payload = JSON.stringify({
      id: `evt_${crypto.randomUUID()}`,
      object: "event",
      type: "charge.succeeded",
      created: 1_700_000_000,
      data: { object: { id: "ch_1" } },
    });
    const header = await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp: nowS() });
    const event = await readAccepted(await postHook(source, payload, { ...JSON_CT, "stripe-signature": header }));
    expect(event).toMatchObject({
      provider: "stripe",
      kind: "charge.succeeded",
      dedupe_key: JSON.parse(payload).id,
      occurred_at: "2023-11-14T22:13:20.000Z",
      signature_status: { state: "verified" },
      raw_body: utf8Base64(payload),
    });
    expect(event.headers["stripe-signature"]).toBe(header);

    const wrong = await Stripe.webhooks.generateTestHeaderStringAsync({
      payload,
      secret: "whsec_wrong",
      timestamp: nowS(),
    });
    const res = await postHook(source, payload, { ...JSON_CT, "stripe-signature": wrong });
    expect(expectError(res, 401, "signature_invalid").details).toMatchObject({ reason: "mismatch" });
    expect(await eventsOfSource(source)).toHaveLength(1);
  });

  it("stripe: rejects a stale timestamp with outside_window", async () => {
    const secret = "whsec_stripe_stale";
    const source = await createSource("stripe", { verify: { style: "stripe", secret } });
    const payload = JSON.stringify({ id: "evt_stale", type: "charge.failed", marker: "STALE-MARKER" });
    const old = await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp: nowS() - 3600 });
    const res = await postHook(source, payload, { ...JSON_CT, "stripe-signature": old });
    await expectRejected(source, res, "outside_window", [secret], "STALE-MARKER");
  });

  it("standard webhooks: verifies webhook-signature with a whsec_ key", async () => {
    const secret = `whsec_${btoa("0123456789abcdef0123456789abcdef")}`;
    const source = await createSource("std", { verify: { style: "standard", secret } });
    const msgId = `msg_${crypto.randomUUID()}`;
    const payload = JSON.stringify({ type: "invoice.paid", data: { amount: 42 } });
    const ts = new Date();
    const signature = new Webhook(secret).sign(msgId, ts, payload);
    const tsS = Math.floor(ts.getTime() / 1000);
    const res = await postHook(source, payload, {
      ...JSON_CT,
      "webhook-id": msgId,
      "webhook-timestamp": String(tsS),
      "webhook-signature": signature,
    });
    const event = await readAccepted(res);
    expect(event).toMatchObject({
      provider: "webhook",
      kind: "invoice.paid",
      dedupe_key: msgId,
      occurred_at: new Date(tsS * 1000).toISOString(),
      signature_status: { state: "verified" },
      payload: { type: "invoice.paid", data: { amount: 42 } },
      raw_body: utf8Base64(payload),
    });
    expect(event.headers).toMatchObject({ "webhook-id": msgId, "webhook-signature": signature });

    const wrongSecret = `whsec_${btoa("ffffffffffffffffffffffffffffffff")}`;
    const bad = await postHook(source, payload, {
      ...JSON_CT,
      "webhook-id": `msg_${crypto.randomUUID()}`,
      "webhook-timestamp": String(tsS),
      "webhook-signature": new Webhook(wrongSecret).sign(msgId, ts, payload),
    });
    expect(expectError(bad, 401, "signature_invalid").details).toMatchObject({ reason: "mismatch" });
    const missing = await postHook(source, payload, { ...JSON_CT, "webhook-id": "m", "webhook-timestamp": "1" });
    expect(expectError(missing, 401).details).toMatchObject({ reason: "missing_header" });
    expect(await eventsOfSource(source)).toHaveLength(1);
  });

  it("slack: verifies v0 signatures, uses event.type as kind and event_id as dedupe key", async () => {
    const secret = "slack-signing-secret";
    const source = await createSource("slack", { verify: { style: "slack", secret } });
    const eventId = `Ev${Date.now()}`;
    const body = JSON.stringify({
      type: "event_callback",
      event_id: eventId,
      event_time: 1_700_000_000,
      event: { type: "app_mention", text: "hi" },
    });
    const ts = String(nowS());
    const res = await postHook(source, body, {
      ...JSON_CT,
      "x-slack-request-timestamp": ts,
      "x-slack-signature": `v0=${await hmacHex(secret, `v0:${ts}:${body}`)}`,
    });
    const event = await readAccepted(res);
    expect(event).toMatchObject({
      provider: "slack",
      kind: "app_mention",
      dedupe_key: eventId,
      occurred_at: "2023-11-14T22:13:20.000Z",
      signature_status: { state: "verified" },
    });
    expect(event.headers["x-slack-request-timestamp"]).toBe(ts);

    const staleTs = String(nowS() - 600);
    const stale = await postHook(source, body.replace("hi", "STALE-SLACK"), {
      ...JSON_CT,
      "x-slack-request-timestamp": staleTs,
      "x-slack-signature": `v0=${await hmacHex(secret, `v0:${staleTs}:${body.replace("hi", "STALE-SLACK")}`)}`,
    });
    expect(expectError(stale, 401, "signature_invalid").details).toMatchObject({ reason: "outside_window" });
    expect(await eventsOfSource(source)).toHaveLength(1);
  });

  it("slack: answers url_verification with the challenge and stores no event", async () => {
    const secret = "slack-signing-secret-2";
    const source = await createSource("slack", { verify: { style: "slack", secret } });
    const body = JSON.stringify({
      token: "legacy",
      challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
      type: "url_verification",
    });
    const ts = String(nowS());
    const res = await postHook(source, body, {
      ...JSON_CT,
      "x-slack-request-timestamp": ts,
      "x-slack-signature": `v0=${await hmacHex(secret, `v0:${ts}:${body}`)}`,
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" });
    expect(await eventsOfSource(source)).toHaveLength(0);

    // An unsigned handshake is still rejected.
    const unsigned = await postHook(source, body, JSON_CT);
    expect(expectError(unsigned, 401).details).toMatchObject({ reason: "missing_header" });
  });

  it("slack: answers url_verification for a Slack-signed source with a custom provider name", async () => {
    const secret = "slack-custom-provider";
    const source = await createSource("slackish", { provider: "team-chat", verify: { style: "slack", secret } });
    const body = JSON.stringify({ type: "url_verification", challenge: "chal-123" });
    const ts = String(nowS());
    const res = await postHook(source, body, {
      ...JSON_CT,
      "x-slack-request-timestamp": ts,
      "x-slack-signature": `v0=${await hmacHex(secret, `v0:${ts}:${body}`)}`,
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ challenge: "chal-123" });
    expect(await eventsOfSource(source)).toHaveLength(0);
  });

  it("slack: answers the form-encoded ssl_check handshake and accepts form-encoded slash commands", async () => {
    const secret = "slack-signing-secret-3";
    const source = await createSource("slack", { verify: { style: "slack", secret } });
    const form = { "content-type": "application/x-www-form-urlencoded" };
    const sign = async (body: string) => {
      const ts = String(nowS());
      return {
        ...form,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": `v0=${await hmacHex(secret, `v0:${ts}:${body}`)}`,
      };
    };
    const ssl = "ssl_check=1&token=legacy-token";
    const check = await postHook(source, ssl, await sign(ssl));
    expect(check.status).toBe(200);
    expect(await eventsOfSource(source)).toHaveLength(0);

    const command = "command=%2Fdeploy&text=prod&user_id=U1&team_id=T1&trigger_id=tr1";
    const res = await postHook(source, command, await sign(command));
    const event = await readAccepted(res);
    expect(event.provider).toBe("slack");
    expect(event.raw_body).toBe(utf8Base64(command));
    expect(event.signature_status).toEqual({ state: "verified" });
  });

  it("linear: verifies Linear-Signature and the webhookTimestamp window", async () => {
    const secret = "lin_wh_secret";
    const source = await createSource("linear", { verify: { style: "linear", secret } });
    const webhookId = `wh-${crypto.randomUUID()}`;
    const at = Date.now();
    const body = JSON.stringify({
      action: "create",
      type: "Issue",
      data: { id: "iss_1" },
      webhookId,
      webhookTimestamp: at,
    });
    const event = await readAccepted(
      await postHook(source, body, { ...JSON_CT, "linear-signature": await hmacHex(secret, body) }),
    );
    expect(event).toMatchObject({
      provider: "linear",
      kind: "Issue",
      dedupe_key: webhookId,
      occurred_at: new Date(at).toISOString(),
      signature_status: { state: "verified" },
    });

    const oldBody = JSON.stringify({ type: "Issue", webhookId: "w-old", webhookTimestamp: at - 120_000 });
    const old = await postHook(source, oldBody, { ...JSON_CT, "linear-signature": await hmacHex(secret, oldBody) });
    expect(expectError(old, 401).details).toMatchObject({ reason: "outside_window" });
    const wrong = await postHook(source, body, { ...JSON_CT, "linear-signature": await hmacHex("nope", body) });
    expect(expectError(wrong, 401).details).toMatchObject({ reason: "mismatch" });
    expect(await eventsOfSource(source)).toHaveLength(1);
  });

  it("notion: verifies X-Notion-Signature", async () => {
    const secret = "secret_notion_verification_token";
    const source = await createSource("notion", { verify: { style: "notion", secret } });
    const id = crypto.randomUUID();
    const body = JSON.stringify({ id, type: "page.created", timestamp: "2024-12-05T23:55:34.285Z", entity: {} });
    const event = await readAccepted(
      await postHook(source, body, { ...JSON_CT, "x-notion-signature": `sha256=${await hmacHex(secret, body)}` }),
    );
    expect(event).toMatchObject({
      provider: "notion",
      kind: "page.created",
      dedupe_key: id,
      occurred_at: "2024-12-05T23:55:34.285Z",
      signature_status: { state: "verified" },
    });
    const wrong = await postHook(source, body, {
      ...JSON_CT,
      "x-notion-signature": `sha256=${await hmacHex("other", body)}`,
    });
    expect(expectError(wrong, 401).details).toMatchObject({ reason: "mismatch" });
  });

  it("hmac: default and configured header, sha256 dedupe key, custom header kept verbatim", async () => {
    const secret = "generic-hmac-secret";
    const source = await createSource("hmac", { verify: { style: "hmac", secret } });
    const body = JSON.stringify({ type: "order.created", order: 7 });
    const event = await readAccepted(
      await postHook(source, body, { ...JSON_CT, "x-signature-256": `sha256=${await hmacHex(secret, body)}` }),
    );
    expect(event).toMatchObject({
      provider: "webhook",
      kind: "order.created",
      dedupe_key: `sha256:${await sha256Hex(body)}`,
      signature_status: { state: "verified" },
    });

    const custom = await createSource("hmac", {
      provider: "acme",
      verify: { style: "hmac", secret, header: "X-Acme-Token-Signature" },
    });
    const body2 = JSON.stringify({ event: "thing" });
    const sig = await hmacHex(secret, body2);
    const ev2 = await readAccepted(await postHook(custom, body2, { ...JSON_CT, "x-acme-token-signature": sig }));
    expect(ev2).toMatchObject({ provider: "acme", kind: "thing" });
    // The configured signature header is kept so handlers can re-verify against raw_body.
    expect(ev2.headers["x-acme-token-signature"]).toBe(sig);
    // The default header does not count for a source configured with another one.
    const other = await postHook(custom, body2, { ...JSON_CT, "x-signature-256": `sha256=${sig}` });
    expect(expectError(other, 401).details).toMatchObject({ reason: "missing_header" });
  });

  it("none: accepts anything as unsigned, including non-JSON bodies", async () => {
    const source = await createSource("open", { verify: { style: "none" } });
    const body = JSON.stringify({ event: "ping" });
    const event = await readAccepted(await postHook(source, body, JSON_CT));
    expect(event).toMatchObject({
      provider: "webhook",
      kind: "ping",
      signature_status: { state: "unsigned" },
      dedupe_key: `sha256:${await sha256Hex(body)}`,
    });
    const text = "plain text ✓";
    const ev2 = await readAccepted(await postHook(source, text, { "content-type": "text/plain" }));
    expect(ev2.payload).toEqual({ raw_utf8: text, raw_base64: utf8Base64(text) });
    expect(ev2.kind).toBe("webhook");
    expect(ev2.raw_body).toBe(utf8Base64(text));

    const bytes = new Uint8Array([0, 255, 1, 254, 10]);
    const ev3 = await readAccepted(await postHook(source, bytes, { "content-type": "application/octet-stream" }));
    expect(ev3.raw_body).toBe(btoa(String.fromCharCode(...bytes)));
  });
});

describe("POST /hooks/:source — errors", () => {
  it("answers 404 for an unknown or invalid source name", async () => {
    expectError(await postHook(unique("nope"), "{}", JSON_CT), 404, "not_found");
    expectError(await postHook("Not_Valid", "{}", JSON_CT), 404, "not_found");
  });

  it("answers 413 for a body over 1 MiB and stores nothing", async () => {
    const source = await createSource("big", { verify: { style: "none" } });
    const big = JSON.stringify({ pad: "x".repeat(1024 * 1024) });
    const error = expectError(await postHook(source, big, JSON_CT), 413, "payload_too_large");
    expect(error.message).toBe("request body exceeds the 1 MiB (1048576 bytes) limit");
    expect(error.details).toEqual({ limit: "body_bytes", max_bytes: 1048576 });
    expect(await eventsOfSource(source)).toHaveLength(0);
    // Exactly 1 MiB is still fine.
    const exact = `"${"y".repeat(1024 * 1024 - 2)}"`;
    expect((await postHook(source, exact, JSON_CT)).status).toBe(202);
  });

  it("answers 400 for malformed JSON on a JSON style, 415 for a non-JSON content type", async () => {
    const secret = "stripe-json";
    const source = await createSource("stripe", { verify: { style: "stripe", secret } });
    const payload = '{"id": "evt_x", "type": ';
    const header = await Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp: nowS() });
    expectError(await postHook(source, payload, { ...JSON_CT, "stripe-signature": header }), 400, "bad_request");
    // No content type at all (bytes, so fetch does not add text/plain).
    const bytes = new TextEncoder().encode(payload);
    expectError(await postHook(source, bytes, { "stripe-signature": header }), 400, "bad_request");
    expectError(await postHook(source, payload, { "stripe-signature": header, "content-type": "text/plain" }), 415);
    expect(await eventsOfSource(source)).toHaveLength(0);
  });

  it("never answers 500 to odd but well-formed requests", async () => {
    const source = await createSource("odd", { verify: { style: "none" } });
    const deep = `${"[".repeat(100_000)}${"]".repeat(100_000)}`;
    const cases: { body: string; headers: Record<string, string> }[] = [
      { body: "", headers: {} },
      { body: "null", headers: JSON_CT },
      { body: deep, headers: JSON_CT },
      { body: "{}", headers: { ...JSON_CT, "x-switchyard-trace-id": "bad trace id with spaces" } },
      { body: "{}", headers: { ...JSON_CT, "content-length": "5" } },
    ];
    for (const c of cases) {
      const res = await postHook(source, c.body, c.headers);
      expect(res.status, `${c.body.slice(0, 20)} → ${JSON.stringify(res.body)}`).toBeLessThan(500);
    }
  });

  it("answers 400 for JSON nested deeper than 128 levels and accepts 128", async () => {
    const source = await createSource("deep", { verify: { style: "none" } });
    const nested = (n: number) => `${"[".repeat(n)}${"]".repeat(n)}`;
    const res = await postHook(source, nested(129), JSON_CT);
    expect(expectError(res, 400, "bad_request").message).toMatch(/deeper than 128/);
    expect(await eventsOfSource(source)).toHaveLength(0);
    expect((await postHook(source, nested(128), JSON_CT)).status).toBe(202);
  });
});
