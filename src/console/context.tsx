/** Per-request console state and the helpers every page uses: render, redirect with a flash, form fields. */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { raw } from "hono/html";
import type { ApiClient } from "./api-client";
import { type Flash, type Page, Shell } from "./layout";
import { safeReturnPath } from "./session";

export type ConsoleEnv = {
  Bindings: Env;
  Variables: {
    requestId: string;
    api: ApiClient;
    /** CSRF token of the session; null on the login page. */
    csrf: string | null;
    nonce: string;
    form: URLSearchParams;
  };
};
export type ConsoleContext = Context<ConsoleEnv>;

const FLASH_COOKIE = "switchyard_console_flash";
/** Live fragments are requested with this header naming the region id. */
export const FRAGMENT_HEADER = "x-console-fragment";

/** Cookie attributes of the console: Secure whenever the console is served over https. */
export function cookieOptions(c: Context, path: string, maxAge?: number) {
  return {
    path,
    httpOnly: true,
    sameSite: "Strict" as const,
    secure: new URL(c.req.url).protocol === "https:",
    ...(maxAge === undefined ? {} : { maxAge }),
  };
}

function encodeFlash(flash: Flash): string {
  const bytes = new TextEncoder().encode(JSON.stringify(flash));
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

function decodeFlash(value: string | undefined): Flash | null {
  if (!value) return null;
  try {
    const bytes = Uint8Array.from(atob(value), (ch) => ch.charCodeAt(0));
    const parsed = JSON.parse(new TextDecoder().decode(bytes)) as Partial<Flash>;
    if (
      (parsed.kind === "ok" || parsed.kind === "error" || parsed.kind === "info") &&
      typeof parsed.text === "string"
    ) {
      return { kind: parsed.kind, text: parsed.text.slice(0, 2000) };
    }
  } catch {
    // A mangled flash cookie is dropped.
  }
  return null;
}

/** Reads and clears the one-shot message left by the previous action. */
export function takeFlash(c: ConsoleContext): Flash | null {
  const flash = decodeFlash(getCookie(c, FLASH_COOKIE));
  if (flash) deleteCookie(c, FLASH_COOKIE, cookieOptions(c, "/console"));
  return flash;
}

/** Post/redirect/get: 303 to `to` with a message shown once on the next page. */
export function redirectWithFlash(c: ConsoleContext, to: string, flash: Flash): Response {
  const text = flash.text.length > 1500 ? `${flash.text.slice(0, 1500)}…` : flash.text;
  setCookie(c, FLASH_COOKIE, encodeFlash({ kind: flash.kind, text }), cookieOptions(c, "/console", 60));
  return c.redirect(to, 303);
}

/** Where an action returns to: the form's `return_to` when it is a console path, else `fallback`. */
export function returnTo(c: ConsoleContext, fallback: string): string {
  return safeReturnPath(c.get("form").get("return_to"), fallback);
}

/** A trimmed form field (empty → undefined). */
export function field(c: ConsoleContext, name: string): string | undefined {
  const value = c.get("form").get(name)?.trim();
  return value ? value : undefined;
}

const SECURITY_HEADERS = (nonce: string) => ({
  "content-security-policy": [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; "),
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "cache-control": "no-store",
});

/** Renders a page in the shell, or only its live region when the console script asks for it. */
export async function render(c: ConsoleContext, page: Page): Promise<Response> {
  const nonce = c.get("nonce");
  for (const [name, value] of Object.entries(SECURITY_HEADERS(nonce))) c.header(name, value);
  const fragment = c.req.header(FRAGMENT_HEADER);
  if (fragment !== undefined) {
    if (!page.live || page.live.id !== fragment) return c.text(`no live region '${fragment.slice(0, 64)}'`, 404);
    if (page.live.final) c.header("x-console-live", "stop");
    // biome-ignore lint/complexity/noUselessFragments: the fragment turns a Child into the element c.html renders
    return c.html(<>{page.live.content}</>, (page.status ?? 200) as 200);
  }
  const flash = takeFlash(c);
  return c.html(
    <>
      {raw("<!doctype html>")}
      <Shell
        title={page.title}
        active={page.active}
        nonce={nonce}
        csrf={c.get("csrf")}
        flash={flash}
        hasLive={page.live !== undefined && !page.live.final}
      >
        {page.body}
      </Shell>
    </>,
    (page.status ?? 200) as 200,
  );
}
