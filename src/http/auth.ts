/** Bearer authentication for `/v1` (SPEC 15/16): the admin token, compared in constant time. */
import type { MiddlewareHandler } from "hono";
import { AppError } from "../lib/errors";

async function digest(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
}

/** Compares two secrets without leaking their length or content through timing. */
export async function secretsEqual(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([digest(a), digest(b)]);
  return crypto.subtle.timingSafeEqual(da, db);
}

export function requireAdmin(): MiddlewareHandler<{ Bindings: Env }> {
  return async (c, next) => {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match?.[1]) throw new AppError("unauthorized", "missing bearer token: send 'Authorization: Bearer <token>'");
    const expected = c.env.ADMIN_TOKEN;
    if (!expected || !(await secretsEqual(match[1].trim(), expected))) {
      throw new AppError("unauthorized", "invalid bearer token");
    }
    await next();
  };
}
