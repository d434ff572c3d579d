/**
 * Turning a verified intake request into TriggerEvent fields (SPEC 3, 4.3, 4.4). Pure: no bindings, WebCrypto
 * only for the fallback dedupe hash.
 */

import { toWellFormed } from "../contracts/unicode";
import { base64Of } from "./base64";

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** `obj[name]` when `obj` is a plain object, else undefined. */
function field(obj: unknown, name: string): unknown {
  return isObject(obj) ? obj[name] : undefined;
}

/** Non-empty string field, else undefined. */
function stringField(obj: unknown, name: string): string | undefined {
  const value = field(obj, name);
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

const utf8 = new TextDecoder(); // lossy: invalid sequences become U+FFFD

function mediaType(contentType: string | null): string | null {
  if (!contentType) return null;
  return (contentType.split(";")[0] ?? "").trim().toLowerCase() || null;
}

function tryJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * Parse the body into the event payload. JSON (by content type, or sniffed when there is none) and Slack-style
 * forms with a JSON `payload` field become that JSON; anything else is kept as `{raw_utf8, raw_base64}`.
 */
export function parsePayload(rawBody: Uint8Array, contentType: string | null): { payload: unknown; json: boolean } {
  const type = mediaType(contentType);
  const text = utf8.decode(rawBody);
  if (type === null || type === "application/json" || type.endsWith("+json") || type === "text/json") {
    const parsed = tryJson(text);
    if (parsed.ok) return { payload: parsed.value, json: true };
  } else if (type === "application/x-www-form-urlencoded") {
    const inner = new URLSearchParams(text).get("payload");
    if (inner !== null) {
      const parsed = tryJson(inner);
      if (parsed.ok) return { payload: parsed.value, json: true };
    }
  }
  return { payload: { raw_utf8: text, raw_base64: base64Of(rawBody) }, json: false };
}

/**
 * Provider event kind (SPEC 3 `kind`). Kinds and dedupe keys are stored in their own columns, so
 * unpaired surrogates (valid in JSON) become U+FFFD here rather than being mangled by storage.
 */
export function deriveKind(provider: string, headers: Headers, payload: unknown): string {
  return toWellFormed(kindOf(provider, headers, payload));
}

function kindOf(provider: string, headers: Headers, payload: unknown): string {
  switch (provider) {
    case "github": {
      const event = headers.get("x-github-event")?.trim() || "unknown";
      const action = stringField(payload, "action");
      return action ? `${event}.${action}` : event;
    }
    case "slack": {
      const type = stringField(payload, "type");
      if (type === "event_callback") return stringField(field(payload, "event"), "type") ?? "unknown";
      return type ?? "unknown";
    }
    default:
      return stringField(payload, "type") ?? stringField(payload, "event") ?? "webhook";
  }
}

/** Delivery id used for dedupe claims (SPEC 4.3); falls back to a hash of the exact body bytes. */
export async function deriveDedupeKey(
  provider: string,
  style: string,
  headers: Headers,
  payload: unknown,
  rawBody: Uint8Array,
): Promise<string> {
  // A provider's own style says who sent it, whatever the source's provider name is (a `github`-style
  // source named after a team still carries X-GitHub-Delivery); generic styles go by the provider.
  const sender = style === "hmac" || style === "none" ? provider : style;
  const key = style === "standard" ? headers.get("webhook-id")?.trim() : providerDedupeKey(sender, headers, payload);
  if (key) return toWellFormed(key);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", rawBody));
  return `sha256:${toHex(digest)}`;
}

function providerDedupeKey(provider: string, headers: Headers, payload: unknown): string | undefined {
  switch (provider) {
    case "github":
      return headers.get("x-github-delivery")?.trim();
    case "stripe":
    case "notion":
      return idField(payload, "id");
    case "slack":
      return idField(payload, "event_id");
    case "linear":
      return idField(payload, "webhookId");
    default:
      return undefined;
  }
}

/** Ids are strings in every provider we know, but a numeric id is still a usable key. */
function idField(payload: unknown, name: string): string | undefined {
  const value = field(payload, name);
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  return stringField(payload, name);
}

/** Provider-reported event time as RFC 3339, or null when not derivable or invalid. */
export function deriveOccurredAt(provider: string, headers: Headers, payload: unknown): string | null {
  switch (provider) {
    case "stripe":
      return fromEpoch(field(payload, "created"), 1000);
    case "slack":
      return fromEpoch(field(payload, "event_time"), 1000);
    case "linear":
      return fromEpoch(field(payload, "webhookTimestamp"), 1) ?? fromDateString(field(payload, "createdAt"));
    case "notion":
      return fromDateString(field(payload, "timestamp"));
    case "webhook": {
      const ts = headers.get("webhook-timestamp")?.trim();
      return ts && /^\d{1,12}$/.test(ts) ? fromMs(Number(ts) * 1000) : null;
    }
    default:
      return null;
  }
}

function fromEpoch(value: unknown, unitMs: number): string | null {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? fromMs(value * unitMs) : null;
}

function fromDateString(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? fromMs(Date.parse(value)) : null;
}

function fromMs(ms: number): string | null {
  const date = new Date(ms);
  // toISOString throws outside the Date range; NaN covers unparsable strings.
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

const KEEP_HEADERS = new Set([
  "user-agent",
  "content-type",
  "content-length",
  "x-request-id",
  "cf-ray",
  "x-hub-signature-256",
  "x-hub-signature",
  "x-notion-signature",
  "linear-signature",
  "x-slack-signature",
  "stripe-signature",
  "webhook-signature",
  "webhook-id",
  "x-signature-256",
]);

const SENSITIVE_PARTS = ["authorization", "cookie", "secret", "token", "key"];

function keepVerbatim(name: string): boolean {
  return (
    KEEP_HEADERS.has(name) ||
    name.includes("request-id") ||
    name.endsWith("-event") ||
    name.endsWith("-delivery") ||
    name.includes("timestamp")
  );
}

/**
 * Headers as stored on the event (SPEC 4.4): lower-case names; credentials-looking values replaced by
 * `[redacted]`. Signature headers stay so handlers can re-verify against `raw_body`; `keep` names extra
 * ones (a source's configured signature header).
 */
export function redactHeaders(headers: Headers, keep: readonly string[] = []): Record<string, string> {
  const extra = new Set(keep.map((name) => name.toLowerCase()));
  const out: Record<string, string> = {};
  for (const [rawName, value] of headers) {
    const name = rawName.toLowerCase();
    const redact = !keepVerbatim(name) && !extra.has(name) && SENSITIVE_PARTS.some((part) => name.includes(part));
    out[name] = redact ? "[redacted]" : value;
  }
  return out;
}

/**
 * Provider handshakes answered directly without creating an event (SPEC 4.2): Slack `url_verification`
 * echoes the challenge; Slack `ssl_check` (a form post, so it arrives as a raw payload) gets a plain 200.
 */
export function providerHandshake(provider: string, payload: unknown): { status: number; body: unknown } | null {
  if (provider !== "slack") return null;
  if (stringField(payload, "type") === "url_verification") {
    const challenge = field(payload, "challenge");
    if (typeof challenge === "string") return { status: 200, body: { challenge } };
  }
  if (isSslCheck(payload)) return { status: 200, body: { ok: true } };
  return null;
}

function isSslCheck(payload: unknown): boolean {
  const direct = field(payload, "ssl_check");
  if (direct !== undefined) return direct === "1" || direct === 1 || direct === true;
  const raw = stringField(payload, "raw_utf8");
  return raw !== undefined && new URLSearchParams(raw).get("ssl_check") === "1";
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}
