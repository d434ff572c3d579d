/**
 * Slowing down repeated failed console logins from one client (SPEC 16), pure over an injected
 * `now`: the first FREE_FAILURES failures within FAILURE_WINDOW_MS cost nothing; each one after that
 * makes the client wait before its next attempt, 1 s doubling up to 15 minutes. A successful login
 * forgets the client's failures, and failures older than the window are forgotten by themselves.
 */

export const FREE_FAILURES = 5;
export const FAILURE_WINDOW_MS = 15 * 60_000;
export const MAX_WAIT_MS = 15 * 60_000;

export interface FailureRecord {
  failures: number;
  last_failure_at: number;
}

/** The wait a client has earned after `failures` failures in a row. */
export function waitAfter(failures: number): number {
  if (failures < FREE_FAILURES) return 0;
  return Math.min(MAX_WAIT_MS, 1_000 * 2 ** (failures - FREE_FAILURES));
}

/** Until when a client must wait before it may try again, or null when it may try now. */
export function lockedUntil(record: FailureRecord | null, now: number): number | null {
  if (!record || now - record.last_failure_at > FAILURE_WINDOW_MS) return null;
  const until = record.last_failure_at + waitAfter(record.failures);
  return until > now ? until : null;
}

/** Whole seconds to wait (for `Retry-After` and the message), at least 1. */
export function retryAfterSeconds(until: number, now: number): number {
  return Math.max(1, Math.ceil((until - now) / 1_000));
}

/** Who a login comes from: the connecting IP Cloudflare reports, or one shared key without it. */
export function loginClient(headers: { get(name: string): string | null }): string {
  const ip = headers.get("cf-connecting-ip")?.trim() ?? "";
  return /^[0-9A-Fa-f:.]{2,45}$/.test(ip) ? ip : "unknown";
}
