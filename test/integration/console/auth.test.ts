/** Console login, logout, redirects, session checks, CSRF and Origin checks. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api } from "../../support/api";
import { anonymous, cookiePair, form, login, TOKEN } from "./support";

const formHeaders = form({}).headers as Record<string, string>;

describe("console authentication", () => {
  it("GET / leads to the console, which asks for a login first", async () => {
    const root = await anonymous.get("/");
    expect(root.status).toBe(302);
    expect(root.headers.get("location")).toBe("/console/events");
    const events = await anonymous.get("/console/events?provider=github");
    expect(events.status).toBe(303);
    expect(events.headers.get("location")).toBe(
      `/console/login?next=${encodeURIComponent("/console/events?provider=github")}`,
    );
    const page = await anonymous.get("/console/login");
    expect(page.status).toBe(200);
    expect(page.html).toContain('name="token"');
    expect(page.html).not.toContain("Log out");
  });

  it.each(["/console/dlq", "/console/bindings", "/console/circuits", "/console/approvals", "/console/traces/x"])(
    "%s redirects to the login without a session",
    async (path) => {
      const res = await anonymous.get(path);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toMatch(/^\/console\/login\?next=/);
    },
  );

  it("a wrong token is refused with a message and no cookie", async () => {
    const res = await anonymous.send("/console/login", form({ token: "nope" }));
    expect(res.status).toBe(401);
    expect(res.html).toContain("That token is not the admin token.");
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("the admin token logs in: a strict, HttpOnly session cookie that is not the token", async () => {
    const res = await anonymous.send("/console/login", form({ token: TOKEN, next: "/console/dlq?state=pending" }));
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/dlq?state=pending");
    const setCookie = res.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/^switchyard_console=/);
    expect(setCookie).toContain("HttpOnly");
    expect(setCookie).toContain("SameSite=Strict");
    expect(setCookie).toContain("Path=/");
    expect(setCookie).not.toContain("Secure"); // plain http (local development)
    expect(setCookie).not.toContain(TOKEN);
    const page = await anonymous.get("/console/dlq", { cookie: cookiePair(setCookie, "switchyard_console")! });
    expect(page.status).toBe(200);
    expect(page.html).toContain("Dead-letter queue");
  });

  it("over https the session cookie is Secure", async () => {
    const { exports } = await import("cloudflare:workers");
    const res = await exports.default.fetch("https://switchyard.test/console/login", {
      ...form({ token: TOKEN }),
      redirect: "manual",
    });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toContain("Secure");
  });

  it("after login, `next` can only point inside the console", async () => {
    for (const next of ["https://evil.example/", "//evil.example/console/", "/v1/events"]) {
      const res = await anonymous.send("/console/login", form({ token: TOKEN, next }));
      expect(res.headers.get("location")).toBe("/console/events");
    }
  });

  it("a login posted from another site is refused", async () => {
    const res = await anonymous.send("/console/login", {
      ...form({ token: TOKEN }),
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "https://evil.example" },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("set-cookie")).toBeNull();
  });

  it("a forged or tampered session cookie is not a session", async () => {
    const client = await login();
    const tampered = client.cookie.replace(/.$/, (ch) => (ch === "A" ? "B" : "A"));
    for (const cookie of [
      tampered,
      "switchyard_console=1.abcdefghijklmnopqrstuvwx.0000",
      `switchyard_console=${TOKEN}`,
    ]) {
      const res = await anonymous.get("/console/events", { cookie });
      expect(res.status).toBe(303);
    }
  });

  it("live fragments answer 401 (not a login page) without a session", async () => {
    const res = await anonymous.get("/console/events", { "x-console-fragment": "events-live" });
    expect(res.status).toBe(401);
  });

  it("logout needs the CSRF token, then clears the cookie and shows the login", async () => {
    const client = await login();
    const refused = await client.post("/console/logout", { _csrf: "forged" });
    expect(refused.status).toBe(403);
    const res = await client.post("/console/logout");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/login");
    expect(res.headers.get("set-cookie")).toMatch(/switchyard_console=;.*Max-Age=0/);
  });

  it("logout ends the session on the server: a copy of the cookie no longer works", async () => {
    const client = await login();
    const copied = client.cookie;
    expect((await anonymous.get("/console/events", { cookie: copied })).status).toBe(200);
    expect((await client.post("/console/logout")).status).toBe(303);
    const replayed = await anonymous.get("/console/events", { cookie: copied });
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get("location")).toMatch(/^\/console\/login/);
    expect((await anonymous.get("/console/login", { cookie: copied })).status).toBe(200);
    // Other sessions go on.
    const other = await login();
    expect((await other.get("/console/events")).status).toBe(200);
  });

  it("rotating ADMIN_TOKEN ends every session", async () => {
    const client = await login();
    const previous = env.ADMIN_TOKEN;
    try {
      env.ADMIN_TOKEN = "rotated-admin-token";
      const after = await client.get("/console/events");
      expect(after.status).toBe(303);
      expect(after.headers.get("location")).toMatch(/^\/console\/login/);
    } finally {
      env.ADMIN_TOKEN = previous;
    }
    expect((await client.get("/console/events")).status).toBe(200);
  });

  it("repeated failed logins from one client are slowed down, and the page says so", async () => {
    const ip = `203.0.113.${Math.floor(Math.random() * 200) + 1}`;
    const from = { "cf-connecting-ip": ip };
    const attempt = (token: string) =>
      anonymous.send("/console/login", { ...form({ token }), headers: { ...formHeaders, ...from } });
    for (let i = 0; i < 4; i++) expect((await attempt("wrong")).status).toBe(401);
    const fifth = await attempt("wrong");
    expect(fifth.status).toBe(429);
    expect(fifth.html).toMatch(/Too many failed logins from this client: try again in 1 s\./);
    expect(fifth.headers.get("retry-after")).toBe("1");
    // While it waits even the right token is refused, without being checked.
    const blocked = await attempt(TOKEN);
    expect(blocked.status).toBe(429);
    expect(blocked.headers.get("set-cookie")).toBeNull();
    // Another client is not affected.
    const elsewhere = await anonymous.send("/console/login", {
      ...form({ token: TOKEN }),
      headers: { ...formHeaders, "cf-connecting-ip": "198.51.100.7" },
    });
    expect(elsewhere.status).toBe(303);
    // After the wait the right token works and the count starts again.
    await new Promise((r) => setTimeout(r, 1_100));
    expect((await attempt(TOKEN)).status).toBe(303);
    expect((await attempt("wrong")).status).toBe(401);
  });
});

describe("console CSRF and Origin checks", () => {
  it("a state-changing POST without the session's CSRF token changes nothing", async () => {
    const client = await login();
    const id = `csrf-${Date.now().toString(36)}`;
    expect(
      (await api("PUT", `/v1/bindings/${id}`, { provider: "csrf", handler: "https://example.com/h" })).status,
    ).toBe(201);
    for (const fields of [{ _csrf: "" }, { _csrf: "forged-token" }]) {
      const res = await client.post(`/console/bindings/${id}/pause`, fields);
      expect(res.status).toBe(403);
      expect(res.html).toContain("Reload the page and try again");
    }
    // Another session's token does not work either.
    const other = await login();
    expect((await client.post(`/console/bindings/${id}/pause`, { _csrf: other.csrf })).status).toBe(403);
    expect((await api("GET", `/v1/bindings/${id}`)).body.paused).toBe(false);
  });

  it("a POST from another origin is refused even with a valid token", async () => {
    const client = await login();
    const id = `origin-${Date.now().toString(36)}`;
    expect(
      (await api("PUT", `/v1/bindings/${id}`, { provider: "origin", handler: "https://example.com/h" })).status,
    ).toBe(201);
    const crossOrigin = await client.post(`/console/bindings/${id}/pause`, {}, { origin: "https://evil.example" });
    expect(crossOrigin.status).toBe(403);
    const crossSite = await client.post(`/console/bindings/${id}/pause`, {}, { "sec-fetch-site": "cross-site" });
    expect(crossSite.status).toBe(403);
    expect((await api("GET", `/v1/bindings/${id}`)).body.paused).toBe(false);
    const sameOrigin = await client.post(
      `/console/bindings/${id}/pause`,
      {},
      { origin: "http://switchyard.test", "sec-fetch-site": "same-origin" },
    );
    expect(sameOrigin.status).toBe(303);
    expect((await api("GET", `/v1/bindings/${id}`)).body.paused).toBe(true);
  });

  it("console forms must be form-encoded and small", async () => {
    const client = await login();
    const { exports } = await import("cloudflare:workers");
    const json = await exports.default.fetch("http://switchyard.test/console/bindings/x/pause", {
      method: "POST",
      headers: { cookie: client.cookie, "content-type": "application/json" },
      body: JSON.stringify({ _csrf: client.csrf }),
      redirect: "manual",
    });
    expect(json.status).toBe(415);
    const big = await client.post("/console/bindings/x/pause", { filler: "x".repeat(70_000) });
    expect(big.status).toBe(413);
  });
});

describe("console response headers", () => {
  it("pages carry a nonce CSP that matches their inline script and style, and are not cached", async () => {
    const client = await login();
    const page = await client.get("/console/events");
    const csp = page.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(page.html).toContain(`<script nonce="${nonce}">`);
    expect(page.html).toContain(`<style nonce="${nonce}">`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get("cache-control")).toBe("no-store");
    expect(page.html.startsWith("<!doctype html>")).toBe(true);
  });
});
