/** Helpers shared by the intake integration tests: sources, signed deliveries, reading back events. */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { api, BASE, unique } from "../../support/api";

const enc = new TextEncoder();

export const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Independent HMAC-SHA256 → lowercase hex (for providers without an official signing helper). */
export async function hmacHex(secret: string, data: string | Uint8Array): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, bytes)));
}

export async function sha256Hex(data: string | Uint8Array): Promise<string> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

/** Base64 of the UTF-8 bytes of `text`, computed independently of the code under test. */
export function utf8Base64(text: string): string {
  return btoa(Array.from(enc.encode(text), (b) => String.fromCharCode(b)).join(""));
}

/** Creates a source (expects 201) and returns its name. */
export async function createSource(prefix: string, body: Record<string, unknown>): Promise<string> {
  const name = unique(prefix);
  const res = await api("PUT", `/v1/sources/${name}`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return name;
}

export interface HookResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: asserted field by field
  body: any;
}

/** `POST /hooks/:source` through the real entry point, without the admin token. */
export async function postHook(
  source: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
): Promise<HookResponse> {
  const res = await exports.default.fetch(`${BASE}/hooks/${source}`, { method: "POST", headers, body });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    // leave as text
  }
  return { status: res.status, headers: res.headers, body: json };
}

/** Events stored for a source (newest first), across all pages. */
// biome-ignore lint/suspicious/noExplicitAny: events are plain JSON
export async function eventsOfSource(source: string): Promise<any[]> {
  const res = await api("GET", `/v1/events?source=${source}&limit=500`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** Signature audit records mentioning `source`. */
// biome-ignore lint/suspicious/noExplicitAny: records are plain JSON
export async function signatureRecords(source: string): Promise<any[]> {
  const res = await api("GET", "/v1/records?topic=audit.signature_verify&limit=500");
  expect(res.status).toBe(200);
  return res.body.items.filter((r: { payload: { source?: string } }) => r.payload?.source === source);
}

/** Asserts the error envelope and returns it. */
export function expectError(res: { status: number; body: unknown }, status: number, code?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  // biome-ignore lint/suspicious/noExplicitAny: envelope asserted below
  const body = res.body as any;
  expect(body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
  if (code) expect(body.error.code).toBe(code);
  return body.error as { code: string; message: string; details?: unknown };
}

export const JSON_CT = { "content-type": "application/json" };

/** Reads an accepted event back and checks the fields every style shares. */
export async function readAccepted(res: {
  status: number;
  body: { status: string; event_id: string; trace_id: string };
}) {
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body).toEqual({ status: "accepted", event_id: expect.any(String), trace_id: expect.any(String) });
  expect(res.body.event_id).toMatch(/^evt_[0-9a-f-]{36}$/);
  expect(res.body.trace_id).toMatch(/^trace_/);
  const got = await api("GET", `/v1/events/${res.body.event_id}`);
  expect(got.status).toBe(200);
  expect(got.body.event.id).toBe(res.body.event_id);
  expect(got.body.event.trace_id).toBe(res.body.trace_id);
  expect(Array.isArray(got.body.dispatches)).toBe(true);
  expect(Date.parse(got.body.event.received_at)).not.toBeNaN();
  return got.body.event;
}
