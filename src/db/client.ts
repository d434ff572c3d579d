/** The drizzle client type over D1 that repositories share. */
import type { DrizzleD1Database } from "drizzle-orm/d1";

/** Any drizzle D1 handle, with or without a registered schema. */
export type Db = DrizzleD1Database<Record<string, unknown>>;
