import { describe, expect, it } from "vitest";
import type { HandlerResult } from "../../../src/contracts/dispatch";
import { decideAfterAttempt } from "../../../src/dispatch/attempt-decision";

const fail = (error = "HTTP 500", retry_after_ms: number | null = null): HandlerResult => ({
  kind: "retryable",
  error,
  cause: { kind: "http_status", status: 500 },
  status_code: 500,
  retry_after_ms,
});

describe("decideAfterAttempt (SPEC 6 step 7)", () => {
  const linear = { linear: { delay_ms: 250 } };

  it("success, waiting, denied and invalid end the dispatch", () => {
    expect(
      decideAfterAttempt({ attempt: 1, maxAttempts: 3, policy: "svix", result: { kind: "success", result: 1 } }),
    ).toEqual({
      kind: "succeeded",
      result: 1,
    });
    expect(
      decideAfterAttempt({ attempt: 2, maxAttempts: 3, policy: "svix", result: { kind: "waiting", message: "m" } }),
    ).toEqual({
      kind: "waiting",
      result: { waiting: true, message: "m" },
    });
    expect(
      decideAfterAttempt({ attempt: 1, maxAttempts: 3, policy: "svix", result: { kind: "denied", error: "no" } }),
    ).toEqual({
      kind: "failed",
      error: "no",
    });
    expect(
      decideAfterAttempt({ attempt: 1, maxAttempts: 3, policy: "svix", result: { kind: "invalid", error: "bad" } }),
    ).toEqual({
      kind: "failed",
      error: "bad",
    });
  });

  it("a retryable failure with attempts left schedules the next attempt after the policy delay", () => {
    expect(decideAfterAttempt({ attempt: 1, maxAttempts: 3, policy: linear, result: fail() })).toEqual({
      kind: "retry",
      nextAttempt: 2,
      delayMs: 250,
      error: "HTTP 500",
    });
    expect(decideAfterAttempt({ attempt: 1, maxAttempts: 7, policy: "svix", result: fail() })).toMatchObject({
      delayMs: 5_000,
    });
    expect(decideAfterAttempt({ attempt: 2, maxAttempts: 7, policy: "svix", result: fail() })).toMatchObject({
      delayMs: 300_000,
    });
  });

  it("Retry-After raises the delay", () => {
    expect(
      decideAfterAttempt({ attempt: 1, maxAttempts: 3, policy: linear, result: fail("HTTP 503", 4_000) }),
    ).toMatchObject({
      delayMs: 4_000,
    });
  });

  it("the last failed attempt dead-letters with retry_exhausted and a classified error", () => {
    expect(decideAfterAttempt({ attempt: 3, maxAttempts: 3, policy: linear, result: fail() })).toEqual({
      kind: "dlq",
      error: "HTTP 500",
      errorClass: "provider_5xx",
      reason: "retry_exhausted",
    });
    const timeout: HandlerResult = {
      kind: "retryable",
      error: "handler timed out after 5ms",
      cause: { kind: "timeout" },
      retry_after_ms: null,
    };
    expect(decideAfterAttempt({ attempt: 1, maxAttempts: 1, policy: linear, result: timeout })).toMatchObject({
      errorClass: "handler_timeout",
    });
  });
});
