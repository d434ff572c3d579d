import { describe, expect, it } from "vitest";
import {
  deriveDedupeKey,
  deriveKind,
  deriveOccurredAt,
  parsePayload,
  providerHandshake,
  redactHeaders,
} from "../../../src/intake/normalise";

const enc = new TextEncoder();
// sha256("abc"), a FIPS 180-2 test vector.
const SHA256_ABC = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

type Case<T> = { name: string; provider: string; headers: Record<string, string>; payload: unknown; want: T };

const raw = (text: string) => ({ raw_utf8: text, raw_base64: btoa(text) });

describe("parsePayload", () => {
  it.each([
    {
      name: "application/json",
      body: '{"a":1}',
      type: "application/json",
      want: { payload: { a: 1 }, json: true },
    },
    {
      name: "json with charset parameter, mixed case",
      body: "[1,2]",
      type: "Application/JSON; charset=utf-8",
      want: { payload: [1, 2], json: true },
    },
    {
      name: "+json suffix",
      body: '{"a":1}',
      type: "application/cloudevents+json",
      want: { payload: { a: 1 }, json: true },
    },
    { name: "no content type, JSON body", body: '{"a":1}', type: null, want: { payload: { a: 1 }, json: true } },
    { name: "no content type, JSON scalar", body: "42", type: null, want: { payload: 42, json: true } },
    { name: "no content type, text body", body: "hello", type: null, want: { payload: raw("hello"), json: false } },
    { name: "no content type, empty body", body: "", type: null, want: { payload: raw(""), json: false } },
    {
      name: "text/plain holding JSON stays raw",
      body: '{"a":1}',
      type: "text/plain",
      want: { payload: raw('{"a":1}'), json: false },
    },
    {
      name: "invalid JSON under a JSON type",
      body: "{nope",
      type: "application/json",
      want: { payload: raw("{nope"), json: false },
    },
    {
      name: "form with JSON payload field (Slack interactive)",
      body: `payload=${encodeURIComponent('{"type":"block_actions","user":{"id":"U1"}}')}`,
      type: "application/x-www-form-urlencoded",
      want: { payload: { type: "block_actions", user: { id: "U1" } }, json: true },
    },
    {
      name: "form with non-JSON payload field",
      body: "payload=hello",
      type: "application/x-www-form-urlencoded",
      want: { payload: raw("payload=hello"), json: false },
    },
    {
      name: "form without payload field (slash command, ssl_check)",
      body: "ssl_check=1&token=abc",
      type: "application/x-www-form-urlencoded; charset=utf-8",
      want: { payload: raw("ssl_check=1&token=abc"), json: false },
    },
  ])("$name", ({ body, type, want }) => {
    expect(parsePayload(enc.encode(body), type)).toEqual(want);
  });

  it("keeps non-UTF-8 bytes exactly in raw_base64 and lossily in raw_utf8", () => {
    const bytes = new Uint8Array([0x68, 0x69, 0xff, 0xfe, 0x00]);
    expect(parsePayload(bytes, "application/octet-stream")).toEqual({
      payload: { raw_utf8: "hi\uFFFD\uFFFD\u0000", raw_base64: "aGn//gA=" },
      json: false,
    });
  });

  it("base64-encodes a 1 MiB body without overflowing", async () => {
    const bytes = new Uint8Array(1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = i % 251;
    const { payload } = parsePayload(bytes, "application/octet-stream");
    const b64 = (payload as { raw_base64: string }).raw_base64;
    const decoded = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    // Compare digests: a deep equal over a million elements is needlessly slow.
    const digest = async (b: Uint8Array) => new Uint8Array(await crypto.subtle.digest("SHA-256", b));
    expect(decoded.length).toBe(bytes.length);
    expect(await digest(decoded)).toEqual(await digest(bytes));
  });
});

describe("deriveKind", () => {
  it.each<Case<string>>([
    {
      name: "github event + action",
      provider: "github",
      headers: { "X-GitHub-Event": "issues" },
      payload: { action: "opened" },
      want: "issues.opened",
    },
    {
      name: "github event without action",
      provider: "github",
      headers: { "x-github-event": "push" },
      payload: { ref: "main" },
      want: "push",
    },
    {
      name: "github non-string action",
      provider: "github",
      headers: { "x-github-event": "push" },
      payload: { action: 1 },
      want: "push",
    },
    { name: "github header missing", provider: "github", headers: {}, payload: {}, want: "unknown" },
    { name: "stripe type", provider: "stripe", headers: {}, payload: { type: "invoice.paid" }, want: "invoice.paid" },
    {
      name: "linear type",
      provider: "linear",
      headers: {},
      payload: { type: "Issue", action: "create" },
      want: "Issue",
    },
    { name: "notion type", provider: "notion", headers: {}, payload: { type: "page.created" }, want: "page.created" },
    { name: "webhook type", provider: "webhook", headers: {}, payload: { type: "order.paid" }, want: "order.paid" },
    { name: "webhook event fallback", provider: "webhook", headers: {}, payload: { event: "ping" }, want: "ping" },
    { name: "type wins over event", provider: "webhook", headers: {}, payload: { type: "a", event: "b" }, want: "a" },
    {
      name: "non-string type falls back",
      provider: "webhook",
      headers: {},
      payload: { type: 3, event: "b" },
      want: "b",
    },
    { name: "webhook nothing", provider: "webhook", headers: {}, payload: { foo: 1 }, want: "webhook" },
    { name: "raw payload", provider: "webhook", headers: {}, payload: raw("x"), want: "webhook" },
    { name: "array payload", provider: "webhook", headers: {}, payload: [{ type: "x" }], want: "webhook" },
    {
      name: "custom provider uses type",
      provider: "acme",
      headers: {},
      payload: { type: "acme.thing" },
      want: "acme.thing",
    },
    {
      name: "slack event_callback → inner type",
      provider: "slack",
      headers: {},
      payload: { type: "event_callback", event: { type: "app_mention" } },
      want: "app_mention",
    },
    {
      name: "slack event_callback without event",
      provider: "slack",
      headers: {},
      payload: { type: "event_callback" },
      want: "unknown",
    },
    {
      name: "slack outer type",
      provider: "slack",
      headers: {},
      payload: { type: "block_actions" },
      want: "block_actions",
    },
    { name: "slack no type", provider: "slack", headers: {}, payload: raw("command=/x"), want: "unknown" },
  ])("$name", ({ provider, headers, payload, want }) => {
    expect(deriveKind(provider, new Headers(headers), payload)).toBe(want);
  });
});

describe("deriveDedupeKey", () => {
  it.each<Case<string> & { style: string }>([
    {
      name: "standard style uses webhook-id",
      provider: "webhook",
      style: "standard",
      headers: { "Webhook-Id": "msg_1" },
      payload: { id: "x" },
      want: "msg_1",
    },
    {
      name: "standard style beats provider rules",
      provider: "stripe",
      style: "standard",
      headers: { "webhook-id": "msg_2" },
      payload: { id: "evt_1" },
      want: "msg_2",
    },
    {
      name: "standard style without webhook-id hashes",
      provider: "webhook",
      style: "standard",
      headers: {},
      payload: {},
      want: SHA256_ABC,
    },
    {
      name: "github delivery header",
      provider: "github",
      style: "github",
      headers: { "X-GitHub-Delivery": "d-1" },
      payload: { id: 9 },
      want: "d-1",
    },
    {
      name: "github without delivery hashes",
      provider: "github",
      style: "github",
      headers: {},
      payload: {},
      want: SHA256_ABC,
    },
    {
      name: "stripe body id",
      provider: "stripe",
      style: "stripe",
      headers: {},
      payload: { id: "evt_123" },
      want: "evt_123",
    },
    {
      name: "slack event_id",
      provider: "slack",
      style: "slack",
      headers: {},
      payload: { event_id: "Ev1", id: "no" },
      want: "Ev1",
    },
    {
      name: "slack without event_id hashes",
      provider: "slack",
      style: "slack",
      headers: {},
      payload: { type: "block_actions" },
      want: SHA256_ABC,
    },
    {
      name: "linear webhookId",
      provider: "linear",
      style: "linear",
      headers: {},
      payload: { webhookId: "w-1", id: "no" },
      want: "w-1",
    },
    { name: "notion body id", provider: "notion", style: "notion", headers: {}, payload: { id: "n-1" }, want: "n-1" },
    {
      name: "numeric id stringified",
      provider: "stripe",
      style: "stripe",
      headers: {},
      payload: { id: 42 },
      want: "42",
    },
    {
      name: "empty id hashes",
      provider: "stripe",
      style: "stripe",
      headers: {},
      payload: { id: "" },
      want: SHA256_ABC,
    },
    {
      name: "a github-style source under a custom provider name still uses X-GitHub-Delivery",
      provider: "team-repos",
      style: "github",
      headers: { "X-GitHub-Delivery": "d-77" },
      payload: {},
      want: "d-77",
    },
    {
      name: "a stripe-style source under a custom provider name still uses the event id",
      provider: "billing",
      style: "stripe",
      headers: {},
      payload: { id: "evt_9" },
      want: "evt_9",
    },
    {
      name: "a none-style source named github goes by its provider",
      provider: "github",
      style: "none",
      headers: { "X-GitHub-Delivery": "d-78" },
      payload: {},
      want: "d-78",
    },
    {
      name: "generic hmac hashes",
      provider: "webhook",
      style: "hmac",
      headers: { "webhook-id": "ignored" },
      payload: { id: "x" },
      want: SHA256_ABC,
    },
    {
      name: "non-JSON payload hashes",
      provider: "stripe",
      style: "stripe",
      headers: {},
      payload: raw("abc"),
      want: SHA256_ABC,
    },
  ])("$name", async ({ provider, style, headers, payload, want }) => {
    expect(await deriveDedupeKey(provider, style, new Headers(headers), payload, enc.encode("abc"))).toBe(want);
  });

  it("hashes the exact bytes", async () => {
    const a = await deriveDedupeKey("webhook", "none", new Headers(), {}, enc.encode('{"a":1}'));
    const b = await deriveDedupeKey("webhook", "none", new Headers(), {}, enc.encode('{"a": 1}'));
    expect(a).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(a).not.toBe(b);
  });
});

describe("deriveOccurredAt", () => {
  it.each<Case<string | null>>([
    {
      name: "stripe created (s)",
      provider: "stripe",
      headers: {},
      payload: { created: 1_700_000_000 },
      want: "2023-11-14T22:13:20.000Z",
    },
    { name: "stripe created missing", provider: "stripe", headers: {}, payload: {}, want: null },
    {
      name: "stripe created as string",
      provider: "stripe",
      headers: {},
      payload: { created: "1700000000" },
      want: null,
    },
    {
      name: "slack event_time (s)",
      provider: "slack",
      headers: {},
      payload: { event_time: 1_700_000_000 },
      want: "2023-11-14T22:13:20.000Z",
    },
    {
      name: "linear webhookTimestamp (ms)",
      provider: "linear",
      headers: {},
      payload: { webhookTimestamp: 1_700_000_000_123, createdAt: "2020-01-01T00:00:00Z" },
      want: "2023-11-14T22:13:20.123Z",
    },
    {
      name: "linear createdAt fallback",
      provider: "linear",
      headers: {},
      payload: { createdAt: "2024-05-01T10:00:00.000Z" },
      want: "2024-05-01T10:00:00.000Z",
    },
    {
      name: "linear invalid createdAt",
      provider: "linear",
      headers: {},
      payload: { createdAt: "last tuesday" },
      want: null,
    },
    {
      name: "notion timestamp",
      provider: "notion",
      headers: {},
      payload: { timestamp: "2024-12-05T23:57:05.379Z" },
      want: "2024-12-05T23:57:05.379Z",
    },
    {
      name: "notion timestamp with offset normalised",
      provider: "notion",
      headers: {},
      payload: { timestamp: "2024-12-06T01:00:00+01:00" },
      want: "2024-12-06T00:00:00.000Z",
    },
    { name: "notion invalid timestamp", provider: "notion", headers: {}, payload: { timestamp: "nope" }, want: null },
    {
      name: "webhook header (s)",
      provider: "webhook",
      headers: { "Webhook-Timestamp": "1700000000" },
      payload: {},
      want: "2023-11-14T22:13:20.000Z",
    },
    {
      name: "webhook header non-numeric",
      provider: "webhook",
      headers: { "webhook-timestamp": "soon" },
      payload: {},
      want: null,
    },
    {
      name: "webhook without header",
      provider: "webhook",
      headers: {},
      payload: { created: 1_700_000_000 },
      want: null,
    },
    {
      name: "github never",
      provider: "github",
      headers: { "webhook-timestamp": "1700000000" },
      payload: { created_at: "2024-01-01T00:00:00Z" },
      want: null,
    },
    {
      name: "custom provider",
      provider: "acme",
      headers: { "webhook-timestamp": "1700000000" },
      payload: {},
      want: null,
    },
    { name: "out of Date range", provider: "stripe", headers: {}, payload: { created: 1e20 }, want: null },
    { name: "NaN-ish", provider: "slack", headers: {}, payload: { event_time: null }, want: null },
    { name: "raw payload", provider: "stripe", headers: {}, payload: raw("x"), want: null },
  ])("$name", ({ provider, headers, payload, want }) => {
    expect(deriveOccurredAt(provider, new Headers(headers), payload)).toBe(want);
  });
});

describe("redactHeaders", () => {
  it.each([
    // kept verbatim by name
    ["User-Agent", "GitHub-Hookshot/1", "GitHub-Hookshot/1"],
    ["Content-Type", "application/json", "application/json"],
    ["Content-Length", "12", "12"],
    ["X-Request-Id", "r-1", "r-1"],
    ["CF-Ray", "abc-LHR", "abc-LHR"],
    ["X-Amzn-Trace-Request-Id", "t-1", "t-1"],
    ["X-GitHub-Event", "push", "push"],
    ["X-GitHub-Delivery", "d-1", "d-1"],
    ["X-Slack-Request-Timestamp", "1700000000", "1700000000"],
    ["Webhook-Timestamp", "1700000000", "1700000000"],
    // signature headers stay so handlers can re-verify
    ["X-Hub-Signature-256", "sha256=aa", "sha256=aa"],
    ["X-Hub-Signature", "sha1=aa", "sha1=aa"],
    ["X-Notion-Signature", "sha256=bb", "sha256=bb"],
    ["Linear-Signature", "cc", "cc"],
    ["X-Slack-Signature", "v0=dd", "v0=dd"],
    ["Stripe-Signature", "t=1,v1=ee", "t=1,v1=ee"],
    ["Webhook-Signature", "v1,ff", "v1,ff"],
    ["Webhook-Id", "msg_1", "msg_1"],
    ["X-Signature-256", "sha256=gg", "sha256=gg"],
    // keep rules win over sensitive substrings
    ["X-Token-Event", "e", "e"],
    ["X-Key-Delivery", "d", "d"],
    // redacted
    ["Authorization", "Bearer abc", "[redacted]"],
    ["Proxy-Authorization", "Basic abc", "[redacted]"],
    ["Cookie", "a=b", "[redacted]"],
    ["Set-Cookie", "a=b", "[redacted]"],
    ["X-Webhook-Secret", "s", "[redacted]"],
    ["X-Gitlab-Token", "t", "[redacted]"],
    ["X-Api-Key", "k", "[redacted]"],
    ["Idempotency-Key", "i", "[redacted]"],
    // everything else verbatim
    ["Accept", "*/*", "*/*"],
    ["X-GitHub-Hook-ID", "123", "123"],
    ["X-Forwarded-For", "203.0.113.1", "203.0.113.1"],
  ])("%s", (name, value, want) => {
    expect(redactHeaders(new Headers({ [name]: value }))).toEqual({ [name.toLowerCase()]: want });
  });

  it("redacts a whole request's headers with lower-case names", () => {
    const headers = new Headers({
      "Content-Type": "application/json",
      Authorization: "Bearer secret-value",
      "X-GitHub-Event": "push",
    });
    expect(redactHeaders(headers)).toEqual({
      "content-type": "application/json",
      authorization: "[redacted]",
      "x-github-event": "push",
    });
  });
});

describe("providerHandshake", () => {
  it.each([
    {
      name: "slack url_verification echoes the challenge",
      provider: "slack",
      payload: {
        token: "t",
        challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        type: "url_verification",
      },
      want: { status: 200, body: { challenge: "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" } },
    },
    {
      name: "slack url_verification without challenge",
      provider: "slack",
      payload: { type: "url_verification" },
      want: null,
    },
    {
      name: "slack ssl_check form body",
      provider: "slack",
      payload: raw("ssl_check=1&token=abc"),
      want: { status: 200, body: { ok: true } },
    },
    {
      name: "slack ssl_check field",
      provider: "slack",
      payload: { ssl_check: "1" },
      want: { status: 200, body: { ok: true } },
    },
    {
      name: "slack slash command is not a handshake",
      provider: "slack",
      payload: raw("command=%2Fdeploy&text=prod"),
      want: null,
    },
    {
      name: "slack event_callback",
      provider: "slack",
      payload: { type: "event_callback", event: { type: "message" } },
      want: null,
    },
    {
      name: "other providers never",
      provider: "webhook",
      payload: { type: "url_verification", challenge: "c" },
      want: null,
    },
    { name: "non-object payload", provider: "slack", payload: "url_verification", want: null },
  ])("$name", ({ provider, payload, want }) => {
    expect(providerHandshake(provider, payload)).toEqual(want);
  });
});
