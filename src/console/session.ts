/**
 * Console sessions. After the admin token is checked once at login, the browser holds a signed
 * session value `<issued_ms>.<nonce>.<mac>` instead of the token itself: the MAC is HMAC-SHA256 keyed
 * with the admin token, so rotating `ADMIN_TOKEN` ends every session, and a session expires after
 * `SESSION_TTL_MS`. The per-session CSRF token is a second MAC over the nonce. Pure over an injected
 * `now`; the only I/O is WebCrypto.
 */
import { secretsEqual } from "../http/auth";

export const SESSION_COOKIE = "switchyard_console";
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

export interface ConsoleSession {
  issuedAt: number;
  nonce: string;
}

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let text = "";
  for (const b of view) text += String.fromCharCode(b);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function mac(key: string, message: string): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return base64url(await crypto.subtle.sign("HMAC", cryptoKey, new TextEncoder().encode(message)));
}

/** A fresh session value for the cookie. */
export async function issueSession(adminToken: string, now: number): Promise<string> {
  const nonce = base64url(crypto.getRandomValues(new Uint8Array(18)));
  const body = `${now}.${nonce}`;
  return `${body}.${await mac(adminToken, `session.${body}`)}`;
}

/** The session a cookie value stands for, or null when it is malformed, forged or expired. */
export async function verifySession(
  value: string | undefined,
  adminToken: string | undefined,
  now: number,
): Promise<ConsoleSession | null> {
  if (!value || !adminToken || value.length > 256) return null;
  const match = /^(\d{1,16})\.([A-Za-z0-9_-]{16,64})\.([A-Za-z0-9_-]{43})$/.exec(value);
  if (!match) return null;
  const [, issued = "", nonce = "", signature = ""] = match;
  const expected = await mac(adminToken, `session.${issued}.${nonce}`);
  if (!(await secretsEqual(signature, expected))) return null;
  const issuedAt = Number(issued);
  if (issuedAt > now + 60_000 || now - issuedAt > SESSION_TTL_MS) return null;
  return { issuedAt, nonce };
}

/** The CSRF token every state-changing console form of this session carries. */
export function csrfToken(session: ConsoleSession, adminToken: string): Promise<string> {
  return mac(adminToken, `csrf.${session.nonce}`);
}

/** Whether a submitted CSRF token belongs to the session (constant time). */
export async function csrfValid(session: ConsoleSession, adminToken: string, submitted: unknown): Promise<boolean> {
  if (typeof submitted !== "string" || submitted.length === 0 || submitted.length > 128) return false;
  return secretsEqual(submitted, await csrfToken(session, adminToken));
}

/**
 * Same-origin check for a state-changing request: an `Origin` header must equal the console's own
 * origin, and a `Sec-Fetch-Site` header must say `same-origin` (or `none`, a typed-in navigation).
 * Requests carrying neither (old clients, curl) pass here and rely on the CSRF token.
 */
export function sameOrigin(requestUrl: string, origin: string | undefined, fetchSite: string | undefined): boolean {
  if (origin !== undefined && origin !== new URL(requestUrl).origin) return false;
  if (fetchSite !== undefined && fetchSite !== "same-origin" && fetchSite !== "none") return false;
  return true;
}

/** A console path to return to after login or an action; anything else falls back to `fallback`. */
export function safeReturnPath(candidate: unknown, fallback: string): string {
  if (typeof candidate !== "string" || candidate.length > 2048) return fallback;
  // Only paths inside the console: no scheme, no protocol-relative `//host`, no backslash tricks.
  if (!/^\/console(\/|\?|$)/.test(candidate) || candidate.includes("\\") || candidate.startsWith("//")) {
    return fallback;
  }
  return candidate;
}
