import { describe, expect, it } from "vitest";
import {
  csrfToken,
  csrfValid,
  issueSession,
  SESSION_TTL_MS,
  safeReturnPath,
  sameOrigin,
  verifySession,
} from "../../../src/console/session";

const TOKEN = "admin-token-for-tests";
const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

describe("console sessions", () => {
  it("a session verifies with the token that issued it and never contains the token", async () => {
    const value = await issueSession(TOKEN, NOW);
    expect(value).not.toContain(TOKEN);
    expect(await verifySession(value, TOKEN, NOW + 1000)).toMatchObject({ issuedAt: NOW });
  });

  it("two logins get different sessions and different CSRF tokens", async () => {
    const a = (await verifySession(await issueSession(TOKEN, NOW), TOKEN, NOW))!;
    const b = (await verifySession(await issueSession(TOKEN, NOW), TOKEN, NOW))!;
    expect(a.nonce).not.toBe(b.nonce);
    expect(await csrfToken(a, TOKEN)).not.toBe(await csrfToken(b, TOKEN));
  });

  it.each([
    ["rotated admin token", async (v: string) => verifySession(v, "another-token", NOW)],
    ["expired", async (v: string) => verifySession(v, TOKEN, NOW + SESSION_TTL_MS + 1)],
    ["issued in the future", async (v: string) => verifySession(v, TOKEN, NOW - 120_000)],
    ["no admin token configured", async (v: string) => verifySession(v, undefined, NOW)],
    ["tampered issue time", async (v: string) => verifySession(v.replace(/^\d/, "9"), TOKEN, NOW)],
    ["tampered MAC", async (v: string) => verifySession(`${v.slice(0, -1)}${v.endsWith("A") ? "B" : "A"}`, TOKEN, NOW)],
    ["garbage", async () => verifySession("not-a-session", TOKEN, NOW)],
    ["missing", async () => verifySession(undefined, TOKEN, NOW)],
    ["oversized", async () => verifySession("1".repeat(10_000), TOKEN, NOW)],
  ])("rejects a session: %s", async (_name, check) => {
    expect(await check(await issueSession(TOKEN, NOW))).toBeNull();
  });

  it("accepts only the session's own CSRF token", async () => {
    const session = (await verifySession(await issueSession(TOKEN, NOW), TOKEN, NOW))!;
    const other = (await verifySession(await issueSession(TOKEN, NOW), TOKEN, NOW))!;
    expect(await csrfValid(session, TOKEN, await csrfToken(session, TOKEN))).toBe(true);
    expect(await csrfValid(session, TOKEN, await csrfToken(other, TOKEN))).toBe(false);
    expect(await csrfValid(session, TOKEN, "")).toBe(false);
    expect(await csrfValid(session, TOKEN, null)).toBe(false);
    expect(await csrfValid(session, TOKEN, "x".repeat(500))).toBe(false);
  });
});

describe("sameOrigin", () => {
  const url = "https://sy.example.com/console/dlq/x/replay";
  it.each([
    [undefined, undefined, true],
    ["https://sy.example.com", undefined, true],
    ["https://sy.example.com", "same-origin", true],
    [undefined, "none", true],
    ["https://evil.example", undefined, false],
    ["null", undefined, false],
    ["http://sy.example.com", undefined, false],
    [undefined, "cross-site", false],
    [undefined, "same-site", false],
  ])("Origin %s, Sec-Fetch-Site %s → %s", (origin, site, ok) => {
    expect(sameOrigin(url, origin, site)).toBe(ok);
  });
});

describe("safeReturnPath", () => {
  it.each([
    ["/console/dlq?state=pending", "/console/dlq?state=pending"],
    ["/console", "/console"],
    ["/console/events/evt_1", "/console/events/evt_1"],
    ["https://evil.example/console/", "/fallback"],
    ["//evil.example/console/", "/fallback"],
    ["/consolex", "/fallback"],
    ["/v1/events", "/fallback"],
    ["/console/\\evil", "/fallback"],
    [undefined, "/fallback"],
    [42, "/fallback"],
  ])("%s → %s", (candidate, want) => {
    expect(safeReturnPath(candidate, "/fallback")).toBe(want);
  });
});
