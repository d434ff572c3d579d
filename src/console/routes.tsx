/**
 * The operator console (SPEC 15 `GET /`): server-rendered pages under `/console`, a thin adapter over
 * the `/v1` API called in-process. Sessions come from a login with the admin token; every
 * state-changing request is a same-origin POST carrying the session's CSRF token.
 */
import { type ExecutionContext, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import { html } from "hono/html";
import { newRequestId } from "../lib/ids";
import { type ApiFetch, apiClient } from "./api-client";
import { type ConsoleContext, type ConsoleEnv, FRAGMENT_HEADER, render } from "./context";
import { approvalRoutes } from "./pages/approvals";
import { bindingRoutes } from "./pages/bindings";
import { circuitRoutes } from "./pages/circuits";
import { dlqRoutes } from "./pages/dlq";
import { eventDetailRoutes } from "./pages/event-detail";
import { eventListRoutes } from "./pages/events";
import { loginRoutes, logoutRoute } from "./pages/login";
import { previewRoutes } from "./pages/preview";
import { sourceRoutes } from "./pages/sources";
import { traceRoutes } from "./pages/trace";
import { csrfToken, csrfValid, SESSION_COOKIE, sameOrigin } from "./session";
import { currentSession } from "./session-store";

/** Console forms are small; anything bigger is refused before it is read. */
const MAX_FORM_BYTES = 64 * 1024;

function nonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

function messagePage(c: ConsoleContext, status: number, title: string, text: string) {
  return render(c, {
    title,
    active: "none",
    status,
    body: (
      <>
        <h1>{title}</h1>
        <div class="flash error" role="alert">
          {text}
        </div>
        <p>
          <a href="/console/events">Back to events</a>
        </p>
      </>
    ),
  });
}

/**
 * Routes of the console. `fetchApi` is the API app's own `fetch`, so pages read and act through the
 * same `/v1` routes as every client.
 */
export function consoleRoutes(fetchApi: ApiFetch) {
  const app = new Hono<ConsoleEnv>();

  app.get("/console", (c) => c.redirect("/console/events", 302));

  app.use("/console/*", async (c, next) => {
    c.set("nonce", nonce());
    c.set("csrf", null);
    c.set("form", new URLSearchParams());
    let ctx: ExecutionContext | undefined;
    try {
      ctx = c.executionCtx;
    } catch {
      ctx = undefined; // e.g. app.request() in tests has no execution context
    }
    const requestId = (c.get("requestId") as string | undefined) ?? newRequestId();
    c.set("api", apiClient(fetchApi, c.env, ctx, new URL(c.req.url).origin, requestId));
    await next();
  });

  app.post(
    "/console/*",
    bodyLimit({
      maxSize: MAX_FORM_BYTES,
      onError: (c) => messagePage(c as ConsoleContext, 413, "Form too large", "The submitted form is too large."),
    }),
    async (c, next) => {
      const type = c.req.header("content-type") ?? "";
      if (!type.startsWith("application/x-www-form-urlencoded")) {
        return messagePage(c, 415, "Unsupported form", "Console actions are submitted as HTML forms.");
      }
      // Read as bytes: workerd warns when text() is called on a form-encoded body.
      c.set("form", new URLSearchParams(new TextDecoder().decode(await c.req.arrayBuffer())));
      await next();
    },
  );

  loginRoutes(app);

  // Everything below needs a session.
  app.use("/console/*", async (c, next) => {
    const session = await currentSession(c.env, getCookie(c, SESSION_COOKIE), Date.now());
    if (!session) {
      if (c.req.header(FRAGMENT_HEADER) !== undefined) return c.text("session expired", 401);
      const url = new URL(c.req.url);
      const next = c.req.method === "GET" ? `${url.pathname}${url.search}` : "/console/events";
      return c.redirect(`/console/login?next=${encodeURIComponent(next)}`, 303);
    }
    c.set("csrf", await csrfToken(session, c.env.ADMIN_TOKEN ?? ""));
    if (c.req.method === "POST") {
      if (!sameOrigin(c.req.url, c.req.header("origin"), c.req.header("sec-fetch-site"))) {
        return messagePage(c, 403, "Request refused", "This action came from another site and was refused.");
      }
      if (!(await csrfValid(session, c.env.ADMIN_TOKEN ?? "", c.get("form").get("_csrf")))) {
        return messagePage(
          c,
          403,
          "Request refused",
          "This form is stale or was not issued by this console session. Reload the page and try again.",
        );
      }
    }
    await next();
  });

  logoutRoute(app);
  eventListRoutes(app);
  eventDetailRoutes(app);
  traceRoutes(app);
  dlqRoutes(app);
  bindingRoutes(app);
  previewRoutes(app);
  sourceRoutes(app);
  circuitRoutes(app);
  approvalRoutes(app);

  app.all("/console/*", (c) => messagePage(c, 404, "Not found", `There is no console page at ${c.req.path}.`));
  app.onError((error, c) => {
    const requestId = (c.get("requestId") as string | undefined) ?? "unknown";
    console.error(
      JSON.stringify({ msg: "console error", request_id: requestId, error: String(error), stack: error.stack }),
    );
    return c.html(
      html`<!doctype html><title>Console error</title><p>The console could not render this page (request ${requestId}).</p><p><a href="/console/events">Back to events</a></p>`,
      500,
    );
  });
  return app;
}
