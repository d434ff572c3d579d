/** DLQ error classes (SPEC 11): from the structured cause of a failure first, its text second. */
import type { ErrorCause } from "../contracts/dispatch";
import type { ErrorClass } from "../contracts/dlq";

export type { ErrorCause, ErrorClass };

// "HTTP 503", "HTTP/1.1 401", "status 403", "status code: 502"; the trailing \b keeps "HTTP 4010" out,
// and requiring the prefix keeps bare numbers (ports, ids, URL paths) out.
const STATUS_TOKEN_RE = /\b(?:HTTP(?:\/\d(?:\.\d)?)?|status(?:[ _]code)?:?)\s*(\d{3})\b/gi;

/**
 * DLQ error class (SPEC 11), first match. The structured cause decides when it can; otherwise the
 * message text is matched case-insensitively. When the cause carries an HTTP status that is neither
 * 401/403 nor 5xx, that status is authoritative: the text may still yield budget, timeout or panic
 * classes but never auth_failed or provider_5xx.
 */
export function classifyError(cause: ErrorCause | null, message: string): ErrorClass {
  switch (cause?.kind) {
    case "budget":
      return "budget_exhausted";
    case "timeout":
      return "handler_timeout";
    case "predicate_panic":
      return "predicate_panic";
    case "handler_panic":
      return "handler_panic";
    case "http_status": {
      const status = cause.status;
      if (status === 401 || status === 403) return "auth_failed";
      if (status !== undefined && status >= 500 && status <= 599) return "provider_5xx";
      return classifyText(message, status === undefined);
    }
  }
  return classifyText(message, true);
}

function classifyText(message: string, allowStatusClasses: boolean): ErrorClass {
  const text = message.toLowerCase();
  if (text.includes("budget") && /exhaust|exceeded|limit/.test(text)) return "budget_exhausted";
  if (/timeout|timed out|deadline/.test(text)) return "handler_timeout";
  if (allowStatusClasses) {
    const statuses = Array.from(message.matchAll(STATUS_TOKEN_RE), (m) => Number(m[1]));
    if (/unauthori[sz]ed|forbidden|authentication/.test(text) || statuses.some((s) => s === 401 || s === 403)) {
      return "auth_failed";
    }
    if (/upstream|service unavailable/.test(text) || statuses.some((s) => s >= 500 && s <= 599)) {
      return "provider_5xx";
    }
  }
  if (/predicate[ _-]?panic/.test(text)) return "predicate_panic";
  if (text.includes("panic")) return "handler_panic";
  return "unknown";
}
