/** Login and logout: the admin token is checked once (constant time) and exchanged for a session cookie. */

import type { Hono } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { forgetLoginFailures, loginFailuresOf, recordLoginFailure } from "../../db/console-repo";
import { secretsEqual } from "../../http/auth";
import { CONSOLE_SOURCE, countIntake } from "../../observability/intake-counters";
import { type ConsoleContext, type ConsoleEnv, cookieOptions, redirectWithFlash, render } from "../context";
import type { Page } from "../layout";
import { lockedUntil, loginClient, retryAfterSeconds } from "../login-throttle";
import { issueSession, SESSION_COOKIE, SESSION_TTL_MS, safeReturnPath, sameOrigin, verifySession } from "../session";
import { currentSession, endSession } from "../session-store";

const HOME = "/console/events";

function loginPage(next: string, error: string | null, status = 200): Page {
  return {
    title: "Log in",
    active: "login",
    status,
    body: (
      <div class="login card">
        <h1>Switchyard console</h1>
        <p class="muted">Log in with the admin token (the ADMIN_TOKEN secret).</p>
        {error && (
          <div class="flash error" role="alert">
            {error}
          </div>
        )}
        <form method="post" action="/console/login">
          <input type="hidden" name="next" value={next} />
          <label>
            Admin token
            <input type="password" name="token" autocomplete="current-password" required />
          </label>
          <p>
            <button type="submit" class="primary">
              Log in
            </button>
          </p>
        </form>
      </div>
    ),
  };
}

/** `GET/POST /console/login`, `POST /console/logout`. Logout is registered after the session check. */
export function loginRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/login", async (c) => {
    const next = safeReturnPath(c.req.query("next"), HOME);
    if (await currentSession(c.env, getCookie(c, SESSION_COOKIE), Date.now())) return c.redirect(next, 303);
    return render(c, loginPage(next, null));
  });

  app.post("/console/login", async (c) => {
    const form = c.get("form");
    const next = safeReturnPath(form.get("next"), HOME);
    if (!sameOrigin(c.req.url, c.req.header("origin"), c.req.header("sec-fetch-site"))) {
      return render(c, loginPage(next, "This login form came from another site and was refused.", 403));
    }
    const expected = c.env.ADMIN_TOKEN;
    if (!expected) {
      return render(c, loginPage(next, "The console is disabled: the ADMIN_TOKEN secret is not set.", 503));
    }
    const client = loginClient(c.req.raw.headers);
    const now = Date.now();
    const locked = lockedUntil(await loginFailuresOf(c.env.DB, client), now);
    if (locked !== null) return slowedDown(c, next, locked, now);
    const token = form.get("token") ?? "";
    if (!(await secretsEqual(token, expected))) {
      const failures = await recordLoginFailure(c.env.DB, client, now);
      const until = lockedUntil(failures, now);
      if (until !== null) return slowedDown(c, next, until, now, "That token is not the admin token. ");
      return render(c, loginPage(next, "That token is not the admin token.", 401));
    }
    await forgetLoginFailures(c.env.DB, client);
    setCookie(
      c,
      SESSION_COOKIE,
      await issueSession(expected, Date.now()),
      cookieOptions(c, "/", Math.floor(SESSION_TTL_MS / 1000)),
    );
    return c.redirect(next, 303);
  });
}

/** 429: the client failed too often; the page says how long to wait, `Retry-After` too. */
async function slowedDown(c: ConsoleContext, next: string, until: number, now: number, prefix = "") {
  const seconds = retryAfterSeconds(until, now);
  await countIntake(c.env.DB, { source: CONSOLE_SOURCE, outcome: "rejected", reason: "login_throttled" }, now);
  c.header("retry-after", String(seconds));
  const text = `${prefix}Too many failed logins from this client: try again in ${seconds} s.`;
  return render(c, loginPage(next, text, 429));
}

export function logoutRoute(app: Hono<ConsoleEnv>) {
  app.post("/console/logout", async (c) => {
    // The session check before this route passed, so the cookie is a live session: end it for good.
    const session = await verifySession(getCookie(c, SESSION_COOKIE), c.env.ADMIN_TOKEN, Date.now());
    if (session) await endSession(c.env, session);
    deleteCookie(c, SESSION_COOKIE, cookieOptions(c, "/"));
    return redirectWithFlash(c, "/console/login", { kind: "info", text: "Logged out." });
  });
}
