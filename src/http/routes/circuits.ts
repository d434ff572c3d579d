/**
 * `GET /v1/circuits` (SPEC 10, 19). Destination objects cannot be enumerated, so the list is the
 * destinations of every binding version that can still dispatch, each asked for its state.
 */
import { ne } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { Hono } from "hono";
import type { BindingSpec } from "../../contracts/binding-spec";
import { destinationKey, parseHandlerUri } from "../../contracts/handler-uri";
import { bindingVersions } from "../../db/schema";
import type { AppEnv } from "../app";

export async function knownDestinations(d1: D1Database): Promise<string[]> {
  const rows = await drizzle(d1)
    .select({ spec: bindingVersions.spec })
    .from(bindingVersions)
    .where(ne(bindingVersions.state, "terminated"));
  const keys = new Set<string>();
  for (const row of rows) {
    const parsed = parseHandlerUri((JSON.parse(row.spec) as BindingSpec).handler);
    if (parsed.ok) keys.add(destinationKey(parsed.value));
  }
  return [...keys].sort();
}

export function circuitRoutes() {
  const app = new Hono<AppEnv>();
  app.get("/", async (c) => {
    const destinations = await knownDestinations(c.env.DB);
    const items = await Promise.all(destinations.map((d) => c.env.DESTINATION.getByName(d).state()));
    return c.json({ items });
  });
  return app;
}
