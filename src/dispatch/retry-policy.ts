/** Retry policies (SPEC 11): the delay before each next attempt, and the attempts a binding may make. */
export type RetryPolicy =
  | "svix"
  | { linear: { delay_ms: number } }
  | { exponential: { base_ms: number; cap_ms: number } };

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/** Svix schedule: delays before attempts 2, 3, …; the last value repeats. */
export const SVIX_DELAYS_MS: readonly number[] = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR];

export const DEFAULT_MAX_ATTEMPTS = 7;
export const MAX_ATTEMPTS_LIMIT = 100;
export const RETRY_AFTER_CAP_MS = 24 * HOUR;

/** Delay in ms before attempt `nextAttempt` (1-based). Attempt 1 (and anything below) is immediate. */
export function retryDelayMs(policy: RetryPolicy, nextAttempt: number): number {
  const n = Math.floor(nextAttempt);
  if (!(n >= 2)) return 0;
  if (policy === "svix") {
    return SVIX_DELAYS_MS[Math.min(n - 2, SVIX_DELAYS_MS.length - 1)] ?? 0;
  }
  if ("linear" in policy) return Math.max(0, policy.linear.delay_ms);
  const { base_ms, cap_ms } = policy.exponential;
  // 2^(n-2) stays finite for n ≤ 100, and min() against the cap keeps the result bounded.
  return Math.max(0, Math.min(base_ms * 2 ** (n - 2), cap_ms));
}

/** A handler's Retry-After raises the next delay to at least its value, capped at 24 h. */
export function applyRetryAfter(delayMs: number, retryAfterMs: number | null): number {
  if (retryAfterMs === null || !Number.isFinite(retryAfterMs)) return delayMs;
  return Math.max(delayMs, Math.min(Math.max(0, retryAfterMs), RETRY_AFTER_CAP_MS));
}

// RFC 9110 HTTP-date forms (IMF-fixdate, RFC 850, asctime) all start with a day name; requiring it keeps
// Date.parse's lenient parser from reading junk such as "1.5" as a date.
const HTTP_DATE_RE = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? /i;

/**
 * Parses a Retry-After header: delta-seconds or an HTTP-date (relative to `now`, epoch ms).
 * Returns milliseconds ≥ 0, or null when absent or unparseable.
 */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) {
    const ms = Number(value) * SECOND;
    return Number.isFinite(ms) ? ms : null;
  }
  if (!HTTP_DATE_RE.test(value)) return null;
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/** SPEC 11: 0 or absent means 7; at most 100. */
export function effectiveMaxAttempts(maxAttempts: number | undefined): number {
  if (maxAttempts === undefined || !Number.isFinite(maxAttempts)) return DEFAULT_MAX_ATTEMPTS;
  const n = Math.floor(maxAttempts);
  if (n <= 0) return DEFAULT_MAX_ATTEMPTS;
  return Math.min(n, MAX_ATTEMPTS_LIMIT);
}
