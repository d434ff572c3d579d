/** A logged-in console client for integration tests, through the real Worker entry point. */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { BASE } from "../../support/api";

export const TOKEN = "test-admin-token";

export interface Page {
  status: number;
  headers: Headers;
  html: string;
}

async function send(path: string, init: RequestInit = {}): Promise<Page> {
  const res = await exports.default.fetch(`${BASE}${path}`, { redirect: "manual", ...init });
  return { status: res.status, headers: res.headers, html: await res.text() };
}

/** The `name=value` of a Set-Cookie header (attributes dropped). */
export function cookiePair(setCookie: string | null, name: string): string | null {
  const match = new RegExp(`(?:^|, )${name}=([^;]*)`).exec(setCookie ?? "");
  return match ? `${name}=${match[1]}` : null;
}

export function form(fields: Record<string, string>): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams(fields).toString(),
  };
}

export const anonymous = { get: (path: string, headers: Record<string, string> = {}) => send(path, { headers }), send };

/** Logs in with the admin token and returns a client carrying the session cookie and its CSRF token. */
export async function login() {
  const res = await send("/console/login", form({ token: TOKEN, next: "/console/events" }));
  expect(res.status).toBe(303);
  const cookie = cookiePair(res.headers.get("set-cookie"), "switchyard_console");
  expect(cookie).not.toBeNull();
  const withCookie = (init: RequestInit = {}): RequestInit => ({
    ...init,
    headers: { ...(init.headers as Record<string, string> | undefined), cookie: cookie! },
  });
  const first = await send("/console/events", withCookie());
  const csrf = /name="_csrf" value="([^"]+)"/.exec(first.html)?.[1];
  expect(csrf).toBeTruthy();
  return {
    cookie: cookie!,
    csrf: csrf!,
    get: (path: string, headers: Record<string, string> = {}) => send(path, withCookie({ headers })),
    /** A console form POST carrying the session's CSRF token unless `fields._csrf` overrides it. */
    post: (path: string, fields: Record<string, string> = {}, headers: Record<string, string> = {}) => {
      const init = form({ _csrf: csrf!, ...fields });
      return send(path, withCookie({ ...init, headers: { ...(init.headers as Record<string, string>), ...headers } }));
    },
  };
}

/** Text content of the first element with `attr="value"` … its closing tag (good enough for assertions). */
export function rowOf(html: string, attr: string, value: string): string {
  const start = html.indexOf(`${attr}="${value}"`);
  if (start < 0) return "";
  return html.slice(start, html.indexOf("</tr>", start) > 0 ? html.indexOf("</tr>", start) : start + 2000);
}

/** The flash message a redirect left, as shown on the next page. */
export async function followFlash(client: Awaited<ReturnType<typeof login>>, res: Page) {
  expect(res.status).toBe(303);
  const flash = cookiePair(res.headers.get("set-cookie"), "switchyard_console_flash");
  const location = res.headers.get("location")!;
  const next = await exports.default.fetch(`${BASE}${location}`, {
    redirect: "manual",
    headers: { cookie: [client.cookie, flash].filter(Boolean).join("; ") },
  });
  const html = await next.text();
  return { location, html, message: /class="flash (?:ok|error|info)"[^>]*>([^<]*)</.exec(html)?.[1] ?? null };
}
