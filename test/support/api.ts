/** Helpers for integration tests that go through the real Worker entry point. */
import { exports } from "cloudflare:workers";
import { expect, inject } from "vitest";

export const ADMIN = { authorization: "Bearer test-admin-token" };
export const BASE = "http://switchyard.test";

export async function api(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await exports.default.fetch(`${BASE}${path}`, {
    method,
    headers: { ...ADMIN, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  // biome-ignore lint/suspicious/noExplicitAny: test convenience: responses are asserted field by field
  return { status: res.status, headers: res.headers, body: json as any };
}

/** The scripted loopback handler server started by globalSetup. */
export const handler = {
  url: (name: string) => `${inject("handlerUrl")}/h/${name}`,
  async script(name: string, script: { responses: unknown[]; otherwise?: unknown }) {
    const res = await fetch(`${inject("handlerUrl")}/__script/${name}`, {
      method: "PUT",
      body: JSON.stringify(script),
    });
    expect(res.status).toBe(204);
  },
  // biome-ignore lint/suspicious/noExplicitAny: recorded requests are plain JSON
  async calls(name: string): Promise<any[]> {
    return (await fetch(`${inject("handlerUrl")}/__calls/${name}`)).json();
  },
};

let counter = 0;
/** A unique name per call so tests in one file never share bindings or sources. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter}`;
}

/** Polls until `check` returns a value (not undefined) or the timeout passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs}ms${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Waits for a dispatch to reach one of `statuses` and returns its detail. */
export async function waitForDispatch(bindingKey: string, eventId: string, statuses: string[], timeoutMs = 15_000) {
  return eventually(async () => {
    const res = await api("GET", `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`);
    return res.status === 200 && statuses.includes(res.body.status) ? res.body : undefined;
  }, timeoutMs);
}
