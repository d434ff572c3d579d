/**
 * Destination objects cannot be enumerated, so the known destinations are those of every binding
 * version that can still dispatch (used by `GET /v1/circuits` and the circuit metrics).
 */
import { and, eq, ne } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { BindingSpec } from "../contracts/binding-spec";
import { destinationKey, parseHandlerUri } from "../contracts/handler-uri";
import { bindingVersions } from "../db/schema";

/** `tenant` limits the list to the destinations of that tenant's bindings. */
export async function knownDestinations(d1: D1Database, tenant: string | null = null): Promise<string[]> {
  const rows = await drizzle(d1)
    .select({ spec: bindingVersions.spec })
    .from(bindingVersions)
    .where(and(ne(bindingVersions.state, "terminated"), tenant ? eq(bindingVersions.tenantId, tenant) : undefined));
  const keys = new Set<string>();
  for (const row of rows) {
    const parsed = parseHandlerUri((JSON.parse(row.spec) as BindingSpec).handler);
    if (parsed.ok) keys.add(destinationKey(parsed.value));
  }
  return [...keys].sort();
}
