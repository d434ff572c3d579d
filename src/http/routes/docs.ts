/** `GET /openapi.json` and `GET /docs` (SPEC 15): the API description and its rendered reference. Public. */
import { Scalar } from "@scalar/hono-api-reference";
import { Hono } from "hono";
import type { AppEnv } from "../app-env";
import { openApiDocument } from "../openapi/document";

export function docsRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/openapi.json", (c) => {
    const origin = new URL(c.req.url).origin;
    return c.json({ ...openApiDocument(), servers: [{ url: origin }] });
  });
  // The page loads the Scalar reference bundle from its CDN in the browser; the worker only serves HTML.
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "Switchyard API" }));
  return app;
}
