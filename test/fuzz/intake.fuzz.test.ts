/**
 * Property tests of webhook intake (`POST /hooks/:source`, SPEC 4) under hostile input, for every
 * signature style: malformed, huge, deep and non-UTF-8 bodies, wrong content types, missing, garbled
 * and wrong signatures, bad timestamps, hostile headers and source names. Whatever arrives, the
 * answer is never a 5xx (except backpressure with Retry-After), every error is the envelope, and a
 * rejected delivery leaves no event, no dedupe claim and no record except the signature audit record.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { TriggerEvent } from "../../src/contracts/events";
import { isWellFormed } from "../../src/contracts/unicode";
import { eventLogCounts } from "../support/storage";
import {
  contentType,
  deepJsonText,
  encodeLossy,
  headerText,
  hostileBody,
  jsonText,
  malformedJsonText,
  pathSegment,
} from "./arbitraries";
import { fuzz, runs, timeoutFor } from "./config";
import { ADMIN, checkAnswer, counts, type FuzzRequest, send } from "./support";

const enc = new TextEncoder();
/** What a delivery may leave behind: event rows and rejection audit rows (EventLogs), dedupe claims (D1). */
const TABLES = ["events", "dedupe_claims", "audit"] as const;

const STANDARD_KEY = "c3dpdGNoeWFyZC1mdXp6LXN0YW5kYXJkLWtleQ=="; // base64("switchyard-fuzz-standard-key")

interface SourceFixture {
  name: string;
  style: string;
  secret: string | null;
  header?: string;
  /** A payload the provider could send, the base of body mutations. */
  example: Record<string, unknown>;
}

const NOW_MS = Date.now();

const FIXTURES: SourceFixture[] = [
  {
    name: "fz-github",
    style: "github",
    secret: "gh-secret",
    example: { action: "opened", issue: { number: 1, title: "t" }, repository: { full_name: "a/b" } },
  },
  {
    name: "fz-notion",
    style: "notion",
    secret: "notion-secret",
    example: { id: "n1", type: "page.created", timestamp: "2026-01-01T00:00:00Z" },
  },
  {
    name: "fz-linear",
    style: "linear",
    secret: "linear-secret",
    example: {
      type: "Issue",
      action: "create",
      webhookId: "w1",
      webhookTimestamp: NOW_MS,
      createdAt: "2026-01-01T00:00:00Z",
    },
  },
  {
    name: "fz-slack",
    style: "slack",
    secret: "slack-secret",
    example: { type: "event_callback", event_id: "Ev1", event_time: 1_700_000_000, event: { type: "message" } },
  },
  {
    name: "fz-stripe",
    style: "stripe",
    secret: "stripe-secret",
    example: { id: "evt_1", type: "charge.succeeded", created: 1_700_000_000, data: { object: {} } },
  },
  {
    name: "fz-standard",
    style: "standard",
    secret: `whsec_${STANDARD_KEY}`,
    example: { type: "invoice.paid", data: {} },
  },
  { name: "fz-hmac", style: "hmac", secret: "hmac-secret", example: { type: "thing", n: 1 } },
  { name: "fz-hmac-hdr", style: "hmac", secret: "hmac-secret-2", header: "X-Custom-Sig", example: { event: "e" } },
  { name: "fz-none", style: "none", secret: null, example: { type: "anything" } },
];

async function hmac(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

type SignatureMode = "valid" | "missing" | "garbage" | "wrong_mac" | "wrong_secret";

/** Timestamps of the windowed styles: current, outside the window, negative, huge, fractional, junk. */
const timestampArb: fc.Arbitrary<(nowS: number) => string> = fc.oneof(
  { weight: 4, arbitrary: fc.constant((nowS: number) => String(nowS)) },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom(-100_000, -301, 301, 100_000, -1e9)
      .map((delta) => (nowS: number) => String(nowS + delta)),
  },
  {
    weight: 3,
    arbitrary: fc
      .oneof(
        fc.constantFrom("-5", "0", "99999999999999", "999999999999", "1.5", "", "1e9", " 1", "0x10", "NaN", "-0"),
        headerText(20),
      )
      .map((value) => () => value),
  },
);

/** Headers that make `body` carry a signature in `fixture`'s style, in `mode`. */
async function signatureHeaders(
  fixture: SourceFixture,
  body: Uint8Array,
  mode: SignatureMode,
  ts: string,
  webhookId: string,
  garbage: string,
): Promise<Record<string, string>> {
  if (fixture.secret === null || mode === "missing") return {};
  const secretBytes =
    fixture.style === "standard"
      ? Uint8Array.from(atob(STANDARD_KEY), (c) => c.charCodeAt(0))
      : enc.encode(mode === "wrong_secret" ? "not-the-secret" : fixture.secret);
  const data =
    fixture.style === "slack"
      ? concat(enc.encode(`v0:${ts}:`), body)
      : fixture.style === "stripe"
        ? concat(enc.encode(`${ts}.`), body)
        : fixture.style === "standard"
          ? concat(enc.encode(`${webhookId}.${ts}.`), body)
          : body;
  const mac = await hmac(mode === "wrong_secret" && fixture.style === "standard" ? enc.encode("x") : secretBytes, data);
  if (mode === "wrong_mac") mac[0] = (mac[0] ?? 0) ^ 0xff;
  const value = (formatted: string) => (mode === "garbage" ? garbage : formatted);
  switch (fixture.style) {
    case "github":
      return { "x-hub-signature-256": value(`sha256=${hex(mac)}`) };
    case "notion":
      return { "x-notion-signature": value(`sha256=${hex(mac)}`) };
    case "linear":
      return { "linear-signature": value(hex(mac)) };
    case "slack":
      return { "x-slack-signature": value(`v0=${hex(mac)}`), "x-slack-request-timestamp": ts };
    case "stripe":
      return { "stripe-signature": value(`t=${ts},v1=${hex(mac)}`) };
    case "standard":
      return { "webhook-id": webhookId, "webhook-timestamp": ts, "webhook-signature": value(`v1,${b64(mac)}`) };
    default:
      return { [fixture.header ?? "x-signature-256"]: value(`sha256=${hex(mac)}`) };
  }
}

const headerName = fc.constantFrom(
  "x-github-event",
  "x-github-delivery",
  "x-switchyard-trace-id",
  "authorization",
  "cookie",
  "x-api-key",
  "user-agent",
  "x-request-id",
  "webhook-id",
  "x-slack-request-timestamp",
  "x-custom-sig",
);

const delivery = fc.record({
  fixture: fc.constantFrom(...FIXTURES),
  contentType,
  mode: fc.constantFrom<SignatureMode>("valid", "valid", "valid", "missing", "garbage", "wrong_mac", "wrong_secret"),
  ts: timestampArb,
  webhookId: fc.oneof(fc.constant("msg_1"), headerText(300)),
  garbage: headerText(100),
  extra: fc.dictionary(headerName, headerText(60), { maxKeys: 3 }),
});

/** A delivery whose body is a hostile variant of its source's example payload. */
const deliveryArb = delivery.chain((d) =>
  fc
    .oneof(
      { weight: 8, arbitrary: hostileBody(d.fixture.example as never) },
      { weight: 1, arbitrary: fc.constant(JSON.stringify(d.fixture.example)) },
      { weight: 1, arbitrary: fc.constant(JSON.stringify({ type: "url_verification", challenge: "c" })) },
      { weight: 1, arbitrary: fc.constant("ssl_check=1&token=x") },
      // Slack interactivity posts a form whose `payload` field holds the JSON.
      { weight: 1, arbitrary: jsonText.map((t) => `payload=${encodeLossy(t)}&x=${encodeLossy(t.slice(0, 5))}`) },
    )
    .map((body) => ({ ...d, body })),
);

async function baseline(): Promise<Record<string, number>> {
  const [d1, logs] = await Promise.all([counts(["dedupe_claims"]), eventLogCounts()]);
  return { ...d1, ...logs };
}

describe("POST /hooks/:source under hostile input", () => {
  beforeAll(async () => {
    for (const f of FIXTURES) {
      const verify: Record<string, unknown> = { style: f.style };
      if (f.secret !== null) verify.secret = f.secret;
      if (f.header) verify.header = f.header;
      if (f.style === "linear") verify.tolerance_s = 86_400;
      const res = await send({
        method: "PUT",
        path: `/v1/sources/${f.name}`,
        headers: { ...ADMIN, "content-type": "application/json" },
        body: JSON.stringify({ verify }),
      });
      expect(res.status, res.text).toBe(201);
    }
  });

  it(
    "never answers 5xx, always the error envelope, and a rejected delivery writes nothing but its audit record",
    async () => {
      await fuzz(
        fc.asyncProperty(deliveryArb, async (d) => {
          const bytes = typeof d.body === "string" ? enc.encode(d.body) : d.body;
          const nowS = Math.floor(Date.now() / 1000);
          const ts = d.ts(nowS);
          const headers: Record<string, string> = {
            ...d.extra,
            ...(d.contentType === undefined ? {} : { "content-type": d.contentType }),
            ...(await signatureHeaders(d.fixture, bytes, d.mode, ts, d.webhookId, d.garbage)),
          };
          const req: FuzzRequest = { method: "POST", path: `/hooks/${d.fixture.name}`, headers, body: bytes };
          const before = await baseline();
          const res = await send(req);
          checkAnswer(req, res, { allowBackpressure: true });
          const after = await baseline();
          const delta = Object.fromEntries(TABLES.map((t) => [t, (after[t] ?? 0) - (before[t] ?? 0)]));
          const context = `${req.method} ${req.path} ${d.mode} → ${res.status} ${res.text.slice(0, 200)}`;
          if (res.status === 202) {
            expect(delta, context).toMatchObject({ events: 1, dedupe_claims: 1 });
            // What was stored is readable back through the API.
            const eventId = (res.json as { event_id: string }).event_id;
            const got = await send({ method: "GET", path: `/v1/events/${eventId}`, headers: ADMIN });
            expect(got.status, `${context}\nread back: ${got.text.slice(0, 200)}`).toBe(200);
            const stored = (got.json as { event: TriggerEvent }).event;
            expect(stored.id).toBe(eventId);
            // A JSON body is stored as parsed, not altered on the way.
            const raw = stored.payload;
            const kept = typeof raw === "object" && raw !== null && "raw_base64" in raw;
            if (!/form-urlencoded/i.test(d.contentType ?? "") && !kept) {
              const sent = JSON.stringify(JSON.parse(new TextDecoder().decode(bytes)));
              expect(JSON.stringify(stored.payload), context).toBe(sent);
            }
            expect(isWellFormed(stored.kind) && isWellFormed(stored.dedupe_key), context).toBe(true);
          } else if (res.status === 401) {
            expect(delta, context).toEqual({ events: 0, dedupe_claims: 0, audit: 1 });
          } else if (res.status !== 503) {
            expect(delta, context).toEqual({ events: 0, dedupe_claims: 0, audit: 0 });
          }
        }),
        runs(60),
      );
    },
    timeoutFor(60),
  );

  it(
    "answers 404 with the envelope for hostile source names and writes nothing",
    async () => {
      await fuzz(
        fc.asyncProperty(
          pathSegment,
          fc.oneof(malformedJsonText, deepJsonText, fc.constant("{}")),
          contentType,
          async (segment, body, type) => {
            const req: FuzzRequest = {
              method: "POST",
              path: `/hooks/${segment}`,
              headers: type === undefined ? {} : { "content-type": type },
              body,
            };
            const before = await baseline();
            const res = await send(req);
            checkAnswer(req, res, { allowBackpressure: true });
            expect(res.status, `${req.path} → ${res.status} ${res.text}`).toBeGreaterThanOrEqual(400);
            expect(await baseline()).toEqual(before);
          },
        ),
        runs(25),
      );
    },
    timeoutFor(25),
  );
});
