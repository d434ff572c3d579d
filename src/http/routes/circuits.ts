/**
 * `GET /v1/circuits` (SPEC 10, 19). Destination objects cannot be enumerated, so the list is the
 * destinations of every binding version that can still dispatch, each asked for its state.
 */
import { Hono } from "hono";
import { knownDestinations } from "../../circuit/known-destinations";
import type { AppEnv } from "../app-env";
import { tenantScope } from "../auth";

export function circuitRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/", async (c) => {
    // A tenant key sees the circuits of its own bindings' destinations.
    const destinations = await knownDestinations(c.env.DB, tenantScope(c));
    const items = await Promise.all(destinations.map((d) => c.env.DESTINATION.getByName(d).state()));
    return c.json({ items });
  });
  return app;
}
