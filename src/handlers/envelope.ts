/** The dispatch envelope and outbound headers shared by HTTP-style handlers (SPEC 12.1). */
import type { TriggerEvent } from "../contracts/events";
import { bytesToBase64 } from "../lib/ids";

export interface AttemptContext {
  dispatch_id: string;
  binding_key: string;
  binding_id: string;
  event_id: string;
  trace_id: string;
  attempt: number;
  replay_of_event_id: string | null;
  autonomy_tier: string;
  timeout_ms: number;
  signing_secret: string;
  /** The secret a rotation replaced, while its overlap lasts: receivers accept either (SPEC 12.1). */
  previous_signing_secret?: string | null;
  handler: string;
  binding_version: number;
  /** a2a:// over http only when the binding allows it (SPEC 12.2). */
  allow_cleartext: boolean;
  /** Default priority of worker:// jobs (SPEC 12.3). */
  dispatch_priority: "high" | "normal" | "low";
  /** A batch leader's member events (ids, leader first): the runner attaches them as `event.batch`. */
  batch_event_ids?: string[] | null;
  /** Its place in an ordering line (SPEC 9.7): receivers can detect gaps per key. */
  ordering?: { key: string; seq: number } | null;
}

export function dispatchEnvelope(ctx: AttemptContext, event: TriggerEvent) {
  return {
    type: "switchyard.dispatch" as const,
    event,
    trigger_id: ctx.binding_id,
    binding_key: ctx.binding_key,
    attempt: ctx.attempt,
    replay_of_event_id: ctx.replay_of_event_id,
    autonomy_tier: ctx.autonomy_tier,
    trace_id: ctx.trace_id,
    ...(ctx.ordering ? { ordering: ctx.ordering } : {}),
  };
}

/** Stable across attempts so receivers can dedupe; replays are distinct dispatches with their own id. */
export function webhookId(ctx: AttemptContext): string {
  return ctx.dispatch_id.replaceAll("|", "/");
}

/** W3C traceparent derived from the trace id (its UUID hex when it has one, else a hash). */
export async function traceparent(traceId: string): Promise<string> {
  const hex = traceId
    .replace(/^trace_/, "")
    .replaceAll("-", "")
    .toLowerCase();
  let traceHex = /^[0-9a-f]{32}$/.test(hex) ? hex : "";
  if (!traceHex) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(traceId)));
    traceHex = Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
  }
  const span = new Uint8Array(8);
  crypto.getRandomValues(span);
  const spanHex = Array.from(span, (b) => b.toString(16).padStart(2, "0")).join("");
  return `00-${traceHex}-${spanHex}-01`;
}

/** HMAC keys by secret, imported once per isolate (bounded: a few per binding). */
const signingKeys = new Map<string, CryptoKey>();
const MAX_SIGNING_KEYS = 256;

async function signingKey(secret: string): Promise<CryptoKey> {
  const known = signingKeys.get(secret);
  if (known) return known;
  const raw = secret.startsWith("whsec_")
    ? Uint8Array.from(atob(secret.slice(6)), (c) => c.charCodeAt(0))
    : new TextEncoder().encode(secret);
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  if (signingKeys.size >= MAX_SIGNING_KEYS) signingKeys.delete(signingKeys.keys().next().value as string);
  signingKeys.set(secret, key);
  return key;
}

/** Standard Webhooks signature: `v1,<base64 HMAC-SHA256(key, "<id>.<ts>.<body>")>`. */
export async function standardWebhookSignature(secret: string, id: string, timestampS: number, body: string) {
  const cryptoKey = await signingKey(secret);
  const mac = await crypto.subtle.sign("HMAC", cryptoKey, new TextEncoder().encode(`${id}.${timestampS}.${body}`));
  return `v1,${bytesToBase64(new Uint8Array(mac))}`;
}

/**
 * The `webhook-signature` value: one `v1,<sig>` per secret, space-separated, as Standard Webhooks
 * receivers accept during a secret rotation.
 */
export async function webhookSignatures(
  secrets: { signing_secret: string; previous_signing_secret?: string | null | undefined },
  id: string,
  timestampS: number,
  body: string,
): Promise<string> {
  const all = [secrets.signing_secret, secrets.previous_signing_secret ?? ""].filter((s) => s !== "");
  const signed = await Promise.all(all.map((secret) => standardWebhookSignature(secret, id, timestampS, body)));
  return signed.join(" ");
}

/** What every signed outbound JSON call carries (a dispatch, a classifier call): type, agent, trace, webhook id and time. */
export async function signedCallHeaders(
  traceId: string,
  id: string,
  timestampS: number,
): Promise<Record<string, string>> {
  return {
    "content-type": "application/json",
    "user-agent": "Switchyard/1",
    traceparent: await traceparent(traceId),
    "x-switchyard-trace-id": traceId,
    "webhook-id": id,
    "webhook-timestamp": String(timestampS),
  };
}

export async function outboundHeaders(ctx: AttemptContext, body: string, now: number): Promise<Headers> {
  const id = webhookId(ctx);
  const ts = Math.floor(now / 1000);
  const headers = new Headers({
    ...(await signedCallHeaders(ctx.trace_id, id, ts)),
    "x-switchyard-attempt": String(ctx.attempt),
    "x-switchyard-autonomy-tier": ctx.autonomy_tier,
    "x-switchyard-binding-key": ctx.binding_key,
    "x-switchyard-event-id": ctx.event_id,
    "webhook-signature": await webhookSignatures(ctx, id, ts, body),
  });
  if (ctx.replay_of_event_id) headers.set("x-switchyard-replay", "1");
  return headers;
}
