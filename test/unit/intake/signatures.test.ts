import { sign as githubSign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import Stripe from "stripe";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_TOLERANCE_S,
  timingSafeEqual,
  type VerifyConfig,
  type VerifyFailureReason,
  verifySignature,
} from "../../../src/intake/signatures";

const enc = new TextEncoder();
const NOW = 1_700_000_000_000; // ms
const NOW_S = NOW / 1000;

const SECRET_A = "secret-a-0123456789";
const SECRET_B = "secret-b-9876543210";
const WRONG = "not-the-secret";
// Standard Webhooks secrets are base64 keys behind a whsec_ prefix.
const STD_A = `whsec_${btoa("standard-key-a-32-bytes-long-xxx")}`;
const STD_B = `whsec_${btoa("standard-key-b-32-bytes-long-yyy")}`;
const STD_WRONG = `whsec_${btoa("standard-key-wrong-32-bytes-long")}`;

const BODY = JSON.stringify({ id: "evt_1", type: "thing.happened", n: 1 });
const TAMPERED = JSON.stringify({ id: "evt_1", type: "thing.happened", n: 2 });

/** Independent HMAC-SHA256 → lowercase hex, for providers without a signing helper. */
async function hmacHex(secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(data)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}

const stripeHeader = (secret: string, payload: string, timestamp: number) =>
  Stripe.webhooks.generateTestHeaderStringAsync({ payload, secret, timestamp });

const standardSig = (secret: string, id: string, tsSeconds: number, payload: string) =>
  new Webhook(secret).sign(id, new Date(tsSeconds * 1000), payload);

type Expect = { ok: true; state?: "verified" | "unsigned" } | { ok: false; reason: VerifyFailureReason };

interface Case {
  name: string;
  config: Partial<VerifyConfig>;
  /** Builds the request; the body defaults to BODY. */
  request: () => Promise<{ headers: Record<string, string>; body?: string }>;
  now?: number;
  expect: Expect;
}

async function run(style: VerifyConfig["style"], c: Case) {
  const config: VerifyConfig = { style, secrets: [SECRET_A, SECRET_B], ...c.config };
  const { headers, body = BODY } = await c.request();
  const result = await verifySignature(config, new Headers(headers), enc.encode(body), c.now ?? NOW);
  if (c.expect.ok) {
    expect(result).toEqual({ ok: true, state: c.expect.state ?? "verified" });
  } else {
    expect(result).toMatchObject({ ok: false, reason: c.expect.reason });
    if (!result.ok) {
      // Messages are shown to callers: never leak secrets or the body.
      for (const secret of [...config.secrets, SECRET_A, SECRET_B, STD_A, STD_B]) {
        expect(result.message).not.toContain(secret);
      }
      expect(result.message).not.toContain(body);
      expect(result.message.length).toBeGreaterThan(0);
    }
  }
}

describe("timingSafeEqual", () => {
  it.each([
    { name: "equal", a: [1, 2, 3], b: [1, 2, 3], want: true },
    { name: "both empty", a: [], b: [], want: true },
    { name: "last byte differs", a: [1, 2, 3], b: [1, 2, 4], want: false },
    { name: "first byte differs", a: [0, 2, 3], b: [1, 2, 3], want: false },
    { name: "prefix (shorter b)", a: [1, 2, 3], b: [1, 2], want: false },
    { name: "prefix (shorter a)", a: [1, 2], b: [1, 2, 3], want: false },
    { name: "longer b padded with zeros", a: [1, 2], b: [1, 2, 0], want: false },
    { name: "one empty", a: [], b: [0], want: false },
  ])("$name", ({ a, b, want }) => {
    expect(timingSafeEqual(new Uint8Array(a), new Uint8Array(b))).toBe(want);
  });
});

describe("DEFAULT_TOLERANCE_S", () => {
  it("matches SPEC 4.2", () => {
    expect(DEFAULT_TOLERANCE_S).toEqual({
      github: null,
      notion: null,
      linear: 60,
      slack: 300,
      stripe: 300,
      standard: 300,
      hmac: null,
      none: null,
    });
  });
});

describe("style github", () => {
  const cases: Case[] = [
    {
      name: "valid, first secret",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": await githubSign(SECRET_A, BODY) } }),
      expect: { ok: true },
    },
    {
      name: "valid, rotated second secret",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": await githubSign(SECRET_B, BODY) } }),
      expect: { ok: true },
    },
    {
      name: "lower-case header name",
      config: {},
      request: async () => ({ headers: { "x-hub-signature-256": await githubSign(SECRET_A, BODY) } }),
      expect: { ok: true },
    },
    {
      name: "upper-case header name and hex",
      config: {},
      request: async () => ({
        headers: { "X-HUB-SIGNATURE-256": `sha256=${(await githubSign(SECRET_A, BODY)).slice(7).toUpperCase()}` },
      }),
      expect: { ok: true },
    },
    {
      name: "timestamps are irrelevant",
      config: {},
      now: 0,
      request: async () => ({ headers: { "X-Hub-Signature-256": await githubSign(SECRET_A, BODY) } }),
      expect: { ok: true },
    },
    {
      name: "missing header",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature": "sha1=abc" } }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "empty header",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": "" } }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "bare hex without sha256= prefix",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": (await githubSign(SECRET_A, BODY)).slice(7) } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "non-hex digest",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": `sha256=${"z".repeat(64)}` } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "truncated digest",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": (await githubSign(SECRET_A, BODY)).slice(0, -2) } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "wrong secret",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": await githubSign(WRONG, BODY) } }),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "tampered body",
      config: {},
      request: async () => ({ headers: { "X-Hub-Signature-256": await githubSign(SECRET_A, BODY) }, body: TAMPERED }),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "no secrets configured",
      config: { secrets: [] },
      request: async () => ({ headers: { "X-Hub-Signature-256": await githubSign(SECRET_A, BODY) } }),
      expect: { ok: false, reason: "mismatch" },
    },
  ];
  it.each(cases)("$name", (c) => run("github", c));

  it("names the header in messages", async () => {
    const missing = await verifySignature(
      { style: "github", secrets: [SECRET_A] },
      new Headers(),
      enc.encode(BODY),
      NOW,
    );
    expect(missing).toEqual({ ok: false, reason: "missing_header", message: "missing X-Hub-Signature-256 header" });
    const headers = new Headers({ "X-Hub-Signature-256": await githubSign(WRONG, BODY) });
    const mismatch = await verifySignature({ style: "github", secrets: [SECRET_A] }, headers, enc.encode(BODY), NOW);
    expect(mismatch).toMatchObject({ ok: false, message: expect.stringContaining("mismatch") });
  });
});

describe("style notion", () => {
  const sig = async (secret: string, body = BODY) => `sha256=${await hmacHex(secret, body)}`;
  const cases: Case[] = [
    {
      name: "valid, first secret",
      config: {},
      request: async () => ({ headers: { "X-Notion-Signature": await sig(SECRET_A) } }),
      expect: { ok: true },
    },
    {
      name: "valid, rotated second secret",
      config: {},
      request: async () => ({ headers: { "X-Notion-Signature": await sig(SECRET_B) } }),
      expect: { ok: true },
    },
    {
      name: "lower-case header name",
      config: {},
      request: async () => ({ headers: { "x-notion-signature": await sig(SECRET_A) } }),
      expect: { ok: true },
    },
    {
      name: "missing header",
      config: {},
      request: async () => ({ headers: {} }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "bare hex without prefix",
      config: {},
      request: async () => ({ headers: { "X-Notion-Signature": await hmacHex(SECRET_A, BODY) } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "wrong secret",
      config: {},
      request: async () => ({ headers: { "X-Notion-Signature": await sig(WRONG) } }),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "tampered body",
      config: {},
      request: async () => ({ headers: { "X-Notion-Signature": await sig(SECRET_A) }, body: TAMPERED }),
      expect: { ok: false, reason: "mismatch" },
    },
  ];
  it.each(cases)("$name", (c) => run("notion", c));
});

describe("style hmac", () => {
  const cases: Case[] = [
    {
      name: "default header, sha256= prefix",
      config: {},
      request: async () => ({ headers: { "X-Signature-256": `sha256=${await hmacHex(SECRET_A, BODY)}` } }),
      expect: { ok: true },
    },
    {
      name: "default header, bare hex",
      config: {},
      request: async () => ({ headers: { "x-signature-256": await hmacHex(SECRET_A, BODY) } }),
      expect: { ok: true },
    },
    {
      name: "rotated second secret",
      config: {},
      request: async () => ({ headers: { "X-Signature-256": `sha256=${await hmacHex(SECRET_B, BODY)}` } }),
      expect: { ok: true },
    },
    {
      name: "custom header, case-insensitive",
      config: { header: "X-My-Sig" },
      request: async () => ({ headers: { "x-my-sig": `sha256=${await hmacHex(SECRET_A, BODY)}` } }),
      expect: { ok: true },
    },
    {
      name: "custom header configured, default header sent",
      config: { header: "x-my-sig" },
      request: async () => ({ headers: { "X-Signature-256": `sha256=${await hmacHex(SECRET_A, BODY)}` } }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "missing header",
      config: {},
      request: async () => ({ headers: {} }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "other algorithm prefix",
      config: {},
      request: async () => ({ headers: { "X-Signature-256": `sha1=${await hmacHex(SECRET_A, BODY)}` } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "wrong secret",
      config: {},
      request: async () => ({ headers: { "X-Signature-256": await hmacHex(WRONG, BODY) } }),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "tampered body",
      config: {},
      request: async () => ({ headers: { "X-Signature-256": await hmacHex(SECRET_A, BODY) }, body: TAMPERED }),
      expect: { ok: false, reason: "mismatch" },
    },
  ];
  it.each(cases)("$name", (c) => run("hmac", c));
});

describe("style linear", () => {
  const body = (ts: unknown) => JSON.stringify({ action: "create", type: "Issue", webhookTimestamp: ts });
  const signed = async (secret: string, ts: unknown) => {
    const b = body(ts);
    return { headers: { "Linear-Signature": await hmacHex(secret, b) }, body: b };
  };
  const cases: Case[] = [
    { name: "valid, first secret", config: {}, request: () => signed(SECRET_A, NOW), expect: { ok: true } },
    { name: "valid, rotated second secret", config: {}, request: () => signed(SECRET_B, NOW), expect: { ok: true } },
    {
      name: "lower-case header name",
      config: {},
      request: async () => ({ headers: { "linear-signature": await hmacHex(SECRET_A, body(NOW)) }, body: body(NOW) }),
      expect: { ok: true },
    },
    {
      name: "exactly 60s in the past",
      config: {},
      request: () => signed(SECRET_A, NOW - 60_000),
      expect: { ok: true },
    },
    {
      name: "exactly 60s in the future",
      config: {},
      request: () => signed(SECRET_A, NOW + 60_000),
      expect: { ok: true },
    },
    {
      name: "61s in the past",
      config: {},
      request: () => signed(SECRET_A, NOW - 61_000),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "61s in the future",
      config: {},
      request: () => signed(SECRET_A, NOW + 61_000),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "tolerance override admits 120s",
      config: { tolerance_s: 120 },
      request: () => signed(SECRET_A, NOW - 120_000),
      expect: { ok: true },
    },
    {
      name: "tolerance override rejects 121s",
      config: { tolerance_s: 120 },
      request: () => signed(SECRET_A, NOW - 121_000),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "missing header",
      config: {},
      request: async () => ({ headers: {}, body: body(NOW) }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "non-hex signature",
      config: {},
      request: async () => ({ headers: { "Linear-Signature": "nothex" }, body: body(NOW) }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "body is not JSON",
      config: {},
      request: async () => ({ headers: { "Linear-Signature": await hmacHex(SECRET_A, "not json") }, body: "not json" }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "webhookTimestamp missing",
      config: {},
      request: async () => {
        const b = JSON.stringify({ type: "Issue" });
        return { headers: { "Linear-Signature": await hmacHex(SECRET_A, b) }, body: b };
      },
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "webhookTimestamp non-numeric",
      config: {},
      request: () => signed(SECRET_A, "yesterday"),
      expect: { ok: false, reason: "bad_format" },
    },
    { name: "wrong secret", config: {}, request: () => signed(WRONG, NOW), expect: { ok: false, reason: "mismatch" } },
    {
      name: "tampered body",
      config: {},
      request: async () => {
        const { headers } = await signed(SECRET_A, NOW);
        return { headers, body: JSON.stringify({ action: "remove", type: "Issue", webhookTimestamp: NOW }) };
      },
      expect: { ok: false, reason: "mismatch" },
    },
  ];
  it.each(cases)("$name", (c) => run("linear", c));
});

describe("style slack", () => {
  const signed = async (secret: string, ts: number | string, body = BODY) => ({
    headers: {
      "X-Slack-Signature": `v0=${await hmacHex(secret, `v0:${ts}:${body}`)}`,
      "X-Slack-Request-Timestamp": String(ts),
    },
    body,
  });
  const cases: Case[] = [
    { name: "valid, first secret", config: {}, request: () => signed(SECRET_A, NOW_S), expect: { ok: true } },
    { name: "valid, rotated second secret", config: {}, request: () => signed(SECRET_B, NOW_S), expect: { ok: true } },
    {
      name: "lower-case header names",
      config: {},
      request: async () => ({
        headers: {
          "x-slack-signature": `v0=${await hmacHex(SECRET_A, `v0:${NOW_S}:${BODY}`)}`,
          "x-slack-request-timestamp": String(NOW_S),
        },
      }),
      expect: { ok: true },
    },
    {
      name: "exactly 300s in the past",
      config: {},
      request: () => signed(SECRET_A, NOW_S - 300),
      expect: { ok: true },
    },
    {
      name: "exactly 300s in the future",
      config: {},
      request: () => signed(SECRET_A, NOW_S + 300),
      expect: { ok: true },
    },
    {
      name: "301s in the past",
      config: {},
      request: () => signed(SECRET_A, NOW_S - 301),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "301s in the future",
      config: {},
      request: () => signed(SECRET_A, NOW_S + 301),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "tolerance override 10s admits 10s",
      config: { tolerance_s: 10 },
      request: () => signed(SECRET_A, NOW_S - 10),
      expect: { ok: true },
    },
    {
      name: "tolerance override 10s rejects 11s",
      config: { tolerance_s: 10 },
      request: () => signed(SECRET_A, NOW_S - 11),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "missing signature header",
      config: {},
      request: async () => ({ headers: { "X-Slack-Request-Timestamp": String(NOW_S) } }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "missing timestamp header",
      config: {},
      request: async () => {
        const { headers } = await signed(SECRET_A, NOW_S);
        return { headers: { "X-Slack-Signature": headers["X-Slack-Signature"] } };
      },
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "signature without v0= prefix",
      config: {},
      request: async () => ({
        headers: {
          "X-Slack-Signature": await hmacHex(SECRET_A, `v0:${NOW_S}:${BODY}`),
          "X-Slack-Request-Timestamp": String(NOW_S),
        },
      }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "non-numeric timestamp",
      config: {},
      request: () => signed(SECRET_A, "soon"),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "wrong secret",
      config: {},
      request: () => signed(WRONG, NOW_S),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "tampered body",
      config: {},
      request: async () => ({ ...(await signed(SECRET_A, NOW_S)), body: TAMPERED }),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "timestamp header changed after signing",
      config: {},
      request: async () => {
        const { headers } = await signed(SECRET_A, NOW_S);
        return { headers: { ...headers, "X-Slack-Request-Timestamp": String(NOW_S - 1) } };
      },
      expect: { ok: false, reason: "mismatch" },
    },
  ];
  it.each(cases)("$name", (c) => run("slack", c));
});

describe("style stripe", () => {
  const header = async (secret: string, ts: number, body = BODY) => ({
    headers: { "Stripe-Signature": await stripeHeader(secret, body, ts) },
    body,
  });
  /** The hex of the v1 entry of a library-generated header. */
  const v1Of = async (secret: string, ts: number) => {
    const h = await stripeHeader(secret, BODY, ts);
    return /v1=([0-9a-f]+)/.exec(h)?.[1] ?? "";
  };
  const cases: Case[] = [
    { name: "valid, first secret", config: {}, request: () => header(SECRET_A, NOW_S), expect: { ok: true } },
    { name: "valid, rotated second secret", config: {}, request: () => header(SECRET_B, NOW_S), expect: { ok: true } },
    {
      name: "lower-case header name",
      config: {},
      request: async () => ({ headers: { "stripe-signature": await stripeHeader(SECRET_A, BODY, NOW_S) } }),
      expect: { ok: true },
    },
    {
      name: "several v1 entries, only the second matches",
      config: { secrets: [SECRET_A] },
      request: async () => ({
        headers: { "Stripe-Signature": `t=${NOW_S},v1=${await v1Of(WRONG, NOW_S)},v1=${await v1Of(SECRET_A, NOW_S)}` },
      }),
      expect: { ok: true },
    },
    {
      name: "v0 entries are ignored",
      config: { secrets: [SECRET_A] },
      request: async () => ({
        headers: { "Stripe-Signature": `t=${NOW_S},v0=garbage,v1=${await v1Of(SECRET_A, NOW_S)}` },
      }),
      expect: { ok: true },
    },
    {
      name: "spaces after commas",
      config: { secrets: [SECRET_A] },
      request: async () => ({ headers: { "Stripe-Signature": `t=${NOW_S}, v1=${await v1Of(SECRET_A, NOW_S)}` } }),
      expect: { ok: true },
    },
    {
      name: "exactly 300s in the past",
      config: {},
      request: () => header(SECRET_A, NOW_S - 300),
      expect: { ok: true },
    },
    {
      name: "exactly 300s in the future",
      config: {},
      request: () => header(SECRET_A, NOW_S + 300),
      expect: { ok: true },
    },
    {
      name: "301s in the past",
      config: {},
      request: () => header(SECRET_A, NOW_S - 301),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "301s in the future",
      config: {},
      request: () => header(SECRET_A, NOW_S + 301),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "tolerance override 600s admits 600s",
      config: { tolerance_s: 600 },
      request: () => header(SECRET_A, NOW_S - 600),
      expect: { ok: true },
    },
    {
      name: "tolerance override 600s rejects 601s",
      config: { tolerance_s: 600 },
      request: () => header(SECRET_A, NOW_S - 601),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "missing header",
      config: {},
      request: async () => ({ headers: {} }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "no timestamp",
      config: {},
      request: async () => ({ headers: { "Stripe-Signature": `v1=${await v1Of(SECRET_A, NOW_S)}` } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "non-numeric timestamp",
      config: {},
      request: async () => ({ headers: { "Stripe-Signature": `t=now,v1=${await v1Of(SECRET_A, NOW_S)}` } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "no v1 entry",
      config: {},
      request: async () => ({ headers: { "Stripe-Signature": `t=${NOW_S},v0=${await v1Of(SECRET_A, NOW_S)}` } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "non-hex v1",
      config: {},
      request: async () => ({ headers: { "Stripe-Signature": `t=${NOW_S},v1=xyz` } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "garbage header",
      config: {},
      request: async () => ({ headers: { "Stripe-Signature": "garbage" } }),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "wrong secret",
      config: {},
      request: () => header(WRONG, NOW_S),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "tampered body",
      config: {},
      request: async () => ({ ...(await header(SECRET_A, NOW_S)), body: TAMPERED }),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "timestamp changed after signing",
      config: { secrets: [SECRET_A] },
      request: async () => ({ headers: { "Stripe-Signature": `t=${NOW_S - 1},v1=${await v1Of(SECRET_A, NOW_S)}` } }),
      expect: { ok: false, reason: "mismatch" },
    },
  ];
  it.each(cases)("$name", (c) => run("stripe", c));

  it("reports the window in the message", async () => {
    const headers = new Headers({ "Stripe-Signature": await stripeHeader(SECRET_A, BODY, NOW_S - 301) });
    const result = await verifySignature({ style: "stripe", secrets: [SECRET_A] }, headers, enc.encode(BODY), NOW);
    expect(result).toEqual({
      ok: false,
      reason: "outside_window",
      message: "Stripe-Signature timestamp outside the 300s tolerance",
    });
  });

  it("agrees with Stripe's own verifier on a library-signed header", async () => {
    const sig = await stripeHeader(SECRET_A, BODY, NOW_S);
    const event = await Stripe.webhooks.constructEventAsync(BODY, sig, SECRET_A, 300, undefined, NOW_S);
    expect(event.id).toBe("evt_1");
  });
});

describe("style standard", () => {
  const ID = "msg_2Lh9KRb0pzN4LePd3XiA4";
  const signed = async (secret: string, ts: number, body = BODY) => ({
    headers: {
      "webhook-id": ID,
      "webhook-timestamp": String(ts),
      "webhook-signature": standardSig(secret, ID, ts, body),
    },
    body,
  });
  const sigOnly = (secret: string) => standardSig(secret, ID, NOW_S, BODY);
  const withSignature = (signature: string, ts: string = String(NOW_S)) => ({
    headers: { "webhook-id": ID, "webhook-timestamp": ts, "webhook-signature": signature },
  });
  const cases: Case[] = [
    {
      name: "valid, first secret",
      config: { secrets: [STD_A, STD_B] },
      request: () => signed(STD_A, NOW_S),
      expect: { ok: true },
    },
    {
      name: "valid, rotated second secret",
      config: { secrets: [STD_A, STD_B] },
      request: () => signed(STD_B, NOW_S),
      expect: { ok: true },
    },
    {
      name: "secret without whsec_ prefix",
      config: { secrets: [STD_A.slice("whsec_".length)] },
      request: () => signed(STD_A, NOW_S),
      expect: { ok: true },
    },
    {
      name: "upper-case header names",
      config: { secrets: [STD_A] },
      request: async () => ({
        headers: { "Webhook-Id": ID, "WEBHOOK-TIMESTAMP": String(NOW_S), "Webhook-Signature": sigOnly(STD_A) },
      }),
      expect: { ok: true },
    },
    {
      name: "several v1 entries, only the second matches",
      config: { secrets: [STD_A] },
      request: async () => withSignature(`${sigOnly(STD_WRONG)} ${sigOnly(STD_A)}`),
      expect: { ok: true },
    },
    {
      name: "non-v1 entries are ignored",
      config: { secrets: [STD_A] },
      request: async () => withSignature(`v1a,c29tZS1lZDI1NTE5LXNpZw== ${sigOnly(STD_A)}`),
      expect: { ok: true },
    },
    {
      name: "unusable (non-base64) secret is skipped, next one verifies",
      config: { secrets: ["whsec_!!!", STD_A] },
      request: () => signed(STD_A, NOW_S),
      expect: { ok: true },
    },
    {
      name: "exactly 300s in the past",
      config: { secrets: [STD_A] },
      request: () => signed(STD_A, NOW_S - 300),
      expect: { ok: true },
    },
    {
      name: "exactly 300s in the future",
      config: { secrets: [STD_A] },
      request: () => signed(STD_A, NOW_S + 300),
      expect: { ok: true },
    },
    {
      name: "301s in the past",
      config: { secrets: [STD_A] },
      request: () => signed(STD_A, NOW_S - 301),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "301s in the future",
      config: { secrets: [STD_A] },
      request: () => signed(STD_A, NOW_S + 301),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "tolerance override 30s admits 30s",
      config: { secrets: [STD_A], tolerance_s: 30 },
      request: () => signed(STD_A, NOW_S + 30),
      expect: { ok: true },
    },
    {
      name: "tolerance override 30s rejects 31s",
      config: { secrets: [STD_A], tolerance_s: 30 },
      request: () => signed(STD_A, NOW_S + 31),
      expect: { ok: false, reason: "outside_window" },
    },
    {
      name: "missing webhook-id",
      config: { secrets: [STD_A] },
      request: async () => ({ headers: { "webhook-timestamp": String(NOW_S), "webhook-signature": sigOnly(STD_A) } }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "missing webhook-timestamp",
      config: { secrets: [STD_A] },
      request: async () => ({ headers: { "webhook-id": ID, "webhook-signature": sigOnly(STD_A) } }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "missing webhook-signature",
      config: { secrets: [STD_A] },
      request: async () => ({ headers: { "webhook-id": ID, "webhook-timestamp": String(NOW_S) } }),
      expect: { ok: false, reason: "missing_header" },
    },
    {
      name: "non-numeric timestamp",
      config: { secrets: [STD_A] },
      request: async () => withSignature(sigOnly(STD_A), "2023-11-14T22:13:20Z"),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "invalid base64",
      config: { secrets: [STD_A] },
      request: async () => withSignature("v1,not*base64!"),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "entry without version",
      config: { secrets: [STD_A] },
      request: async () => withSignature(sigOnly(STD_A).slice(3)),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "no v1 entry",
      config: { secrets: [STD_A] },
      request: async () => withSignature("v1a,c29tZS1lZDI1NTE5LXNpZw=="),
      expect: { ok: false, reason: "bad_format" },
    },
    {
      name: "wrong secret",
      config: { secrets: [STD_A, STD_B] },
      request: () => signed(STD_WRONG, NOW_S),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "tampered body",
      config: { secrets: [STD_A] },
      request: async () => ({ ...(await signed(STD_A, NOW_S)), body: TAMPERED }),
      expect: { ok: false, reason: "mismatch" },
    },
    {
      name: "webhook-id changed after signing",
      config: { secrets: [STD_A] },
      request: async () => {
        const { headers } = await signed(STD_A, NOW_S);
        return { headers: { ...headers, "webhook-id": "msg_other" } };
      },
      expect: { ok: false, reason: "mismatch" },
    },
  ];
  it.each(cases)("$name", (c) => run("standard", c));

  it("agrees with the standardwebhooks verifier", async () => {
    // The library checks against the real clock, so sign at the real now for this cross-check only.
    const nowS = Math.floor(Date.now() / 1000);
    const { headers, body } = await signed(STD_A, nowS);
    expect(new Webhook(STD_A).verify(body, headers)).toEqual(JSON.parse(BODY));
    const ours = await verifySignature(
      { style: "standard", secrets: [STD_A] },
      new Headers(headers),
      enc.encode(body),
      nowS * 1000,
    );
    expect(ours).toEqual({ ok: true, state: "verified" });
  });
});

describe("style none", () => {
  const cases: Case[] = [
    { name: "no headers", config: {}, request: async () => ({ headers: {} }), expect: { ok: true, state: "unsigned" } },
    {
      name: "signature headers are not checked",
      config: { secrets: [] },
      request: async () => ({ headers: { "X-Signature-256": "sha256=garbage" } }),
      expect: { ok: true, state: "unsigned" },
    },
  ];
  it.each(cases)("$name", (c) => run("none", c));
});
