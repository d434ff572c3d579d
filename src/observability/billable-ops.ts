/**
 * Billable Cloudflare operations, counted for benchmarks (docs/benchmarks.md, SPEC 17). Off unless
 * the Worker runs with `BILLABLE_OPS_COUNTING=true` (`wrangler dev --var BILLABLE_OPS_COUNTING:true`,
 * which `npm run bench` does); when off, every hook hands its input back untouched.
 *
 * When on, the bindings an invocation sees are wrapped by counting proxies:
 * - D1 (`DB`): statements, `meta.rows_read` and `meta.rows_written` of every query. `first()` and
 *   `raw()` return no meta, so the counter sits at the binding's transport (the fetcher under the
 *   `D1Database` wrapper of workerd) where every statement's meta passes; if that is not found,
 *   D1 is left uncounted and `d1_counted` says so.
 * - Durable Object namespaces: every RPC call or fetch on a stub is one request; alarm invocations
 *   are counted by the object (`countDurableObjectOps` in its constructor), and so are the rows its
 *   SQLite storage writes and reads (`ctx.storage.sql.exec` cursors' `rowsWritten`/`rowsRead`, which
 *   SQLite-backed Durable Objects are billed for like D1 rows) and its active time (duration: from a
 *   request, an alarm or a `waitUntil` task starting until none is left). Rows read are taken when a
 *   statement is executed, so rows a cursor reads while it is iterated later are missed (a lower
 *   bound).
 * - No queue is on the event path any more; the queue fields stay in the report (always 0) so reports
 *   of earlier builds compare.
 *
 * Counters are per isolate and grouped by origin: `intake` (/hooks), `publish` (POST /v1/events),
 * `api` (other routes), `scheduled`, and each Durable Object class. Under
 * `wrangler dev` the Worker and its Durable Objects share one isolate, so `GET /v1/billable-ops`
 * (admin token; DELETE resets) returns everything. Deployed, each isolate only sees its own share.
 *
 * This module is the entry (`withBillableOps` around the Worker, the report route); the counters are
 * `op-counts.ts`, the wrappers `counting-bindings.ts` and `d1-counting.ts`.
 */
import { secretsEqual } from "../http/auth";
import { countBillableOps } from "./counting-bindings";
import { billableOpsEnabled, billableOpsReport, countsFor, resetBillableOps } from "./op-counts";

export const BILLABLE_OPS_PATH = "/v1/billable-ops";

/** Where an HTTP request's operations are counted. */
export function originOfRequest(method: string, pathname: string): string {
  if (pathname.startsWith("/hooks/")) return "intake";
  if (method === "POST" && (pathname === "/v1/events" || pathname === "/v1/events/")) return "publish";
  return "api";
}

async function reportRoute(request: Request, env: Env): Promise<Response> {
  const match = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "");
  if (!match?.[1] || !env.ADMIN_TOKEN || !(await secretsEqual(match[1].trim(), env.ADMIN_TOKEN))) {
    return Response.json(
      { error: { code: "unauthorized", message: "invalid or missing bearer token" } },
      { status: 401 },
    );
  }
  if (request.method === "DELETE") {
    resetBillableOps();
    return new Response(null, { status: 204 });
  }
  if (request.method !== "GET") {
    return Response.json(
      { error: { code: "method_not_allowed", message: `${request.method} ${BILLABLE_OPS_PATH}` } },
      { status: 405, headers: { allow: "GET, DELETE" } },
    );
  }
  return Response.json(billableOpsReport());
}

/**
 * The Worker's handlers with every invocation counted (when enabled): `fetch` by route group (and
 * `GET|DELETE /v1/billable-ops`), and `scheduled`.
 */
export function withBillableOps<H extends ExportedHandler<Env>>(handler: H): H {
  const { fetch, scheduled } = handler;
  const counted: ExportedHandler<Env> = {
    ...handler,
    ...(fetch && {
      fetch(request, env, ctx) {
        if (!billableOpsEnabled(env)) return fetch.call(handler, request, env, ctx);
        const url = new URL(request.url);
        if (url.pathname === BILLABLE_OPS_PATH) return reportRoute(request, env);
        const origin = originOfRequest(request.method, url.pathname);
        countsFor(origin).invocations += 1;
        return fetch.call(handler, request, countBillableOps(env, origin), ctx);
      },
    }),
    ...(scheduled && {
      async scheduled(controller, env, ctx) {
        if (!billableOpsEnabled(env)) return scheduled.call(handler, controller, env, ctx);
        countsFor("scheduled").invocations += 1;
        return scheduled.call(handler, controller, countBillableOps(env, "scheduled"), ctx);
      },
    }),
  };
  return counted as H;
}
