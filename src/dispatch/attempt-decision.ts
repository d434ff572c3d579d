/**
 * Pure core of the attempt loop (SPEC 6 step 7, SPEC 11): what happens after one handler
 * invocation. The BindingGate DO applies the decision; nothing here does I/O.
 */
import type { HandlerResult } from "../contracts/dispatch";
import { classifyError, type ErrorClass } from "./error-class";
import { applyRetryAfter, type RetryPolicy, retryDelayMs } from "./retry-policy";

export type AttemptDecision =
  | { kind: "succeeded"; result: unknown }
  | { kind: "waiting"; result: unknown }
  | { kind: "failed"; error: string }
  | { kind: "cancelled"; error: string }
  | { kind: "retry"; nextAttempt: number; delayMs: number; error: string }
  | { kind: "dlq"; error: string; errorClass: ErrorClass; reason: "retry_exhausted" | "circuit_opened" };

export interface AttemptDecisionInput {
  attempt: number;
  maxAttempts: number;
  policy: RetryPolicy;
  result: HandlerResult;
}

export function decideAfterAttempt({ attempt, maxAttempts, policy, result }: AttemptDecisionInput): AttemptDecision {
  switch (result.kind) {
    case "success":
      return { kind: "succeeded", result: result.result };
    case "waiting":
      return { kind: "waiting", result: result.result ?? { waiting: true, message: result.message } };
    case "denied":
    case "invalid":
    case "failed":
      return { kind: "failed", error: result.error };
    case "cancelled":
      return { kind: "cancelled", error: result.error };
    case "retryable": {
      if (attempt >= maxAttempts) {
        return {
          kind: "dlq",
          error: result.error,
          errorClass: classifyError(result.cause, result.error),
          reason: "retry_exhausted",
        };
      }
      const nextAttempt = attempt + 1;
      const delayMs = applyRetryAfter(retryDelayMs(policy, nextAttempt), result.retry_after_ms);
      return { kind: "retry", nextAttempt, delayMs, error: result.error };
    }
  }
}
