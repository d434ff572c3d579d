/**
 * Webhook signature verification (SPEC 4.2). Pure: no bindings, WebCrypto only, time injected as `now` (ms).
 */

export type VerifyStyle = "github" | "notion" | "linear" | "slack" | "stripe" | "standard" | "hmac" | "none";

export interface VerifyConfig {
  style: VerifyStyle;
  secrets: string[];
  tolerance_s?: number;
  /** Header carrying the signature for the `hmac` style; default `x-signature-256`. */
  header?: string;
}

export type VerifyFailureReason = "missing_header" | "bad_format" | "mismatch" | "outside_window";

export type VerifyResult =
  | { ok: true; state: "verified" | "unsigned" }
  | { ok: false; reason: VerifyFailureReason; message: string };

export const DEFAULT_TOLERANCE_S: Record<VerifyStyle, number | null> = {
  github: null,
  notion: null,
  linear: 60,
  slack: 300,
  stripe: 300,
  standard: 300,
  hmac: null,
  none: null,
};

const SHA256_BYTES = 32;
const encoder = new TextEncoder();

/**
 * Constant-time byte comparison: always walks the longer input, so neither the position of the first
 * difference nor a length mismatch short-circuits the loop.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  const len = Math.max(a.length, b.length);
  let diff = a.length ^ b.length;
  for (let i = 0; i < len; i++) {
    diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return diff === 0;
}

/** What a style extracted from the request, before any MAC is computed. */
interface Signed {
  /** Header named in mismatch messages. */
  label: string;
  /** Decoded signatures offered by the sender; any may match. */
  candidates: Uint8Array[];
  /** Exact bytes the sender MACed. */
  data: Uint8Array;
  /** HMAC key for a configured secret, or null when the secret cannot be used by this style. */
  keyFor: (secret: string) => Uint8Array | null;
  /** Sender timestamp in ms plus what to call it in messages; absent for styles without a window. */
  timestamp?: { ms: number; label: string };
}

type Failure = Extract<VerifyResult, { ok: false }>;
type Extracted = { ok: true; signed: Signed } | Failure;

const fail = (reason: VerifyFailureReason, message: string): Failure => ({ ok: false, reason, message });

const utf8Key = (secret: string): Uint8Array => encoder.encode(secret);

/**
 * Verify `rawBody` against `config`. Order: header presence and format, then the timestamp window, then the
 * MAC against every configured secret (key rotation).
 */
export async function verifySignature(
  config: VerifyConfig,
  headers: Headers,
  rawBody: Uint8Array,
  now: number,
): Promise<VerifyResult> {
  if (config.style === "none") return { ok: true, state: "unsigned" };

  const extracted = extract(config, headers, rawBody);
  if (!extracted.ok) return extracted;
  const { signed } = extracted;

  if (signed.timestamp) {
    const tolerance = config.tolerance_s ?? DEFAULT_TOLERANCE_S[config.style] ?? 0;
    if (Math.abs(now - signed.timestamp.ms) > tolerance * 1000) {
      return {
        ok: false,
        reason: "outside_window",
        message: `${signed.timestamp.label} outside the ${tolerance}s tolerance`,
      };
    }
  }

  if (config.secrets.length === 0) {
    return { ok: false, reason: "mismatch", message: `cannot verify ${signed.label}: no secret configured` };
  }
  for (const secret of config.secrets) {
    const key = signed.keyFor(secret);
    if (!key) continue;
    const mac = await hmacSha256(key, signed.data);
    // Check every candidate without early exit so timing does not reveal which one matched.
    let matched = false;
    for (const candidate of signed.candidates) {
      matched = timingSafeEqual(mac, candidate) || matched;
    }
    if (matched) return { ok: true, state: "verified" };
  }
  return { ok: false, reason: "mismatch", message: `${signed.label} signature mismatch` };
}

function extract(config: VerifyConfig, headers: Headers, body: Uint8Array): Extracted {
  switch (config.style) {
    case "github":
      return prefixedHexOverBody(headers, body, "X-Hub-Signature-256", "sha256=", false);
    case "notion":
      return prefixedHexOverBody(headers, body, "X-Notion-Signature", "sha256=", false);
    case "hmac":
      return prefixedHexOverBody(headers, body, config.header ?? "X-Signature-256", "sha256=", true);
    case "linear":
      return extractLinear(headers, body);
    case "slack":
      return extractSlack(headers, body);
    case "stripe":
      return extractStripe(headers, body);
    case "standard":
      return extractStandard(headers, body);
    case "none":
      return fail("bad_format", "style none carries no signature");
  }
}

/** `<prefix><hex>` over the raw body (github, notion, generic hmac). */
function prefixedHexOverBody(
  headers: Headers,
  body: Uint8Array,
  name: string,
  prefix: string,
  bareAllowed: boolean,
): Extracted {
  const value = headers.get(name)?.trim();
  if (!value) return fail("missing_header", `missing ${name} header`);
  let hex: string;
  if (value.toLowerCase().startsWith(prefix)) hex = value.slice(prefix.length);
  else if (bareAllowed) hex = value;
  else return fail("bad_format", `${name} header must start with "${prefix}"`);
  const mac = decodeHex(hex);
  if (!mac) return fail("bad_format", `${name} header is not a hex SHA-256 signature`);
  return { ok: true, signed: { label: name, candidates: [mac], data: body, keyFor: utf8Key } };
}

function extractLinear(headers: Headers, body: Uint8Array): Extracted {
  const name = "Linear-Signature";
  const value = headers.get(name)?.trim();
  if (!value) return fail("missing_header", `missing ${name} header`);
  const mac = decodeHex(value);
  if (!mac) return fail("bad_format", `${name} header is not a hex SHA-256 signature`);
  const ms = linearTimestamp(body);
  if (ms === null) return fail("bad_format", "Linear body has no numeric webhookTimestamp");
  return {
    ok: true,
    signed: {
      label: name,
      candidates: [mac],
      data: body,
      keyFor: utf8Key,
      timestamp: { ms, label: "Linear webhookTimestamp" },
    },
  };
}

function linearTimestamp(body: Uint8Array): number | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const ts: unknown = (parsed as Record<string, unknown>).webhookTimestamp;
  if (typeof ts === "number" && Number.isFinite(ts)) return ts;
  if (typeof ts === "string" && /^\d{1,16}$/.test(ts)) return Number(ts);
  return null;
}

function extractSlack(headers: Headers, body: Uint8Array): Extracted {
  const sigName = "X-Slack-Signature";
  const tsName = "X-Slack-Request-Timestamp";
  const value = headers.get(sigName)?.trim();
  if (!value) return fail("missing_header", `missing ${sigName} header`);
  const ts = headers.get(tsName)?.trim();
  if (!ts) return fail("missing_header", `missing ${tsName} header`);
  if (!value.startsWith("v0=")) return fail("bad_format", `${sigName} header must start with "v0="`);
  const mac = decodeHex(value.slice(3));
  if (!mac) return fail("bad_format", `${sigName} header is not a hex SHA-256 signature`);
  const seconds = parseSeconds(ts);
  if (seconds === null) return fail("bad_format", `${tsName} header is not a unix timestamp`);
  return {
    ok: true,
    signed: {
      label: sigName,
      candidates: [mac],
      data: concat(encoder.encode(`v0:${ts}:`), body),
      keyFor: utf8Key,
      timestamp: { ms: seconds * 1000, label: tsName },
    },
  };
}

function extractStripe(headers: Headers, body: Uint8Array): Extracted {
  const name = "Stripe-Signature";
  const value = headers.get(name)?.trim();
  if (!value) return fail("missing_header", `missing ${name} header`);
  let ts: string | undefined;
  const candidates: Uint8Array[] = [];
  for (const item of value.split(",")) {
    const eq = item.indexOf("=");
    if (eq < 0) return fail("bad_format", `${name} header is malformed`);
    const scheme = item.slice(0, eq).trim();
    const part = item.slice(eq + 1).trim();
    if (scheme === "t") {
      ts ??= part;
    } else if (scheme === "v1") {
      const mac = decodeHex(part);
      if (!mac) return fail("bad_format", `${name} v1 entry is not a hex SHA-256 signature`);
      candidates.push(mac);
    }
    // Other schemes (v0, test-mode extras) are deliberately ignored.
  }
  if (ts === undefined) return fail("bad_format", `${name} header has no timestamp`);
  const seconds = parseSeconds(ts);
  if (seconds === null) return fail("bad_format", `${name} timestamp is not a unix timestamp`);
  if (candidates.length === 0) return fail("bad_format", `${name} header has no v1 signature`);
  return {
    ok: true,
    signed: {
      label: name,
      candidates,
      data: concat(encoder.encode(`${ts}.`), body),
      keyFor: utf8Key,
      timestamp: { ms: seconds * 1000, label: `${name} timestamp` },
    },
  };
}

function extractStandard(headers: Headers, body: Uint8Array): Extracted {
  const id = headers.get("webhook-id")?.trim();
  if (!id) return fail("missing_header", "missing webhook-id header");
  const ts = headers.get("webhook-timestamp")?.trim();
  if (!ts) return fail("missing_header", "missing webhook-timestamp header");
  const value = headers.get("webhook-signature")?.trim();
  if (!value) return fail("missing_header", "missing webhook-signature header");
  const seconds = parseSeconds(ts);
  if (seconds === null) return fail("bad_format", "webhook-timestamp header is not a unix timestamp");
  const candidates: Uint8Array[] = [];
  for (const entry of value.split(/\s+/)) {
    const comma = entry.indexOf(",");
    if (comma < 0) return fail("bad_format", "webhook-signature entry is malformed");
    // Only v1 (HMAC-SHA256) is defined for symmetric keys; v1a (ed25519) and others are skipped.
    if (entry.slice(0, comma) !== "v1") continue;
    const mac = decodeBase64(entry.slice(comma + 1));
    if (!mac || mac.length !== SHA256_BYTES) return fail("bad_format", "webhook-signature v1 entry is not base64");
    candidates.push(mac);
  }
  if (candidates.length === 0) return fail("bad_format", "webhook-signature header has no v1 signature");
  return {
    ok: true,
    signed: {
      label: "webhook-signature",
      candidates,
      data: concat(encoder.encode(`${id}.${ts}.`), body),
      keyFor: (secret) => decodeBase64(secret.startsWith("whsec_") ? secret.slice(6) : secret),
      timestamp: { ms: seconds * 1000, label: "webhook-timestamp" },
    },
  };
}

/**
 * Imported HMAC keys by their raw bytes: a source's secrets are imported once per isolate, not on
 * every request. Bounded: the map is emptied when it grows past MAX_CACHED_KEYS (rotated secrets).
 * It holds keys, never pending imports: requests must not await promises of other requests.
 */
const cryptoKeys = new Map<string, CryptoKey>();
const MAX_CACHED_KEYS = 256;

async function hmacKey(key: Uint8Array): Promise<CryptoKey> {
  const id = String.fromCharCode(...key);
  const cached = cryptoKeys.get(id);
  if (cached) return cached;
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  if (cryptoKeys.size >= MAX_CACHED_KEYS) cryptoKeys.clear();
  cryptoKeys.set(id, imported);
  return imported;
}

async function hmacSha256(key: Uint8Array, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(key), data));
}

function parseSeconds(value: string): number | null {
  // Bounded digits: anything longer is not a plausible unix time and would lose precision.
  return /^\d{1,12}$/.test(value) ? Number(value) : null;
}

/** Decode a hex SHA-256 MAC; null unless exactly 64 hex digits. */
function decodeHex(hex: string): Uint8Array | null {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return null;
  const out = new Uint8Array(SHA256_BYTES);
  for (let i = 0; i < SHA256_BYTES; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function decodeBase64(b64: string): Uint8Array | null {
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return null;
  let binary: string;
  try {
    binary = atob(b64);
  } catch {
    return null;
  }
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

function concat(prefix: Uint8Array, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}
