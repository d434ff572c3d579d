/**
 * The console session a request carries, checked against its signature, its age and the server's
 * list of revoked sessions (a logout ends a session for good, not only in the browser that logged out).
 */
import { revokeSession, sessionRevoked } from "../db/console-repo";
import { type ConsoleSession, SESSION_TTL_MS, verifySession } from "./session";

export async function currentSession(
  env: Env,
  cookie: string | undefined,
  now: number,
): Promise<ConsoleSession | null> {
  const session = await verifySession(cookie, env.ADMIN_TOKEN, now);
  if (!session) return null;
  return (await sessionRevoked(env.DB, session.nonce)) ? null : session;
}

/** Logout: the session is refused from now on, wherever its cookie was copied to. */
export async function endSession(env: Env, session: ConsoleSession): Promise<void> {
  await revokeSession(env.DB, session.nonce, session.issuedAt + SESSION_TTL_MS);
}
