/**
 * The API describing itself (SPEC 15): `GET /openapi.json` rendered from every route group's
 * declarations, `GET /docs` (the reference page over it) and `GET /`, the way into the console. Public.
 */
import { Scalar } from "@scalar/hono-api-reference";
import type { Context } from "hono";
import { buildOpenApiDocument } from "../openapi/document";
import { type Operation, RouteGroup } from "../openapi/route";

/** `operations` lists every documented route, these included; the document is built once per isolate. */
export function docsRoutes(operations: () => Operation[]) {
  let document: Record<string, unknown> | undefined;
  const page = Scalar({ url: "/openapi.json", pageTitle: "Switchyard API" });
  return new RouteGroup("", "Ops")
    .on(
      {
        method: "get",
        path: "/openapi.json",
        operationId: "getOpenApi",
        summary: "This OpenAPI document",
        auth: "public",
        responses: {
          200: { description: "OpenAPI 3.1.", media: { type: "application/json", schema: { type: "object" } } },
        },
      },
      (c) => {
        document ??= buildOpenApiDocument(operations());
        return c.json({ ...document, servers: [{ url: new URL(c.req.url).origin }] });
      },
    )
    .on(
      {
        method: "get",
        path: "/docs",
        operationId: "getDocs",
        summary: "Interactive API reference rendered from /openapi.json",
        auth: "public",
        responses: {
          200: { description: "An HTML page.", media: { type: "text/html", schema: { type: "string" } } },
        },
      },
      // The page loads the Scalar reference bundle from its CDN in the browser; the worker only serves HTML.
      (c) => page(c as Context, async () => {}) as Promise<Response>,
    )
    .on(
      {
        method: "get",
        path: "/",
        operationId: "getConsole",
        summary: "The web console",
        description: "The console's HTML pages and forms live under `/console` (sign in with the admin token).",
        auth: "public",
        responses: {
          302: {
            description: "Redirects to the console.",
            headers: { location: { description: "The console's start page.", schema: { type: "string" } } },
          },
        },
      },
      (c) => c.redirect("/console/events", 302),
    );
}
