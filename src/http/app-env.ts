/** The Hono environment every route module shares: bindings plus the per-request variables. */
import type { Principal } from "./auth";

export type AppEnv = { Bindings: Env; Variables: { requestId: string; principal: Principal } };
