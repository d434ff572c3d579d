import { describe, expect, it } from "vitest";
import { classifyError, type ErrorCause, type ErrorClass } from "../../../src/dispatch/error-class";

describe("classifyError: structured cause first", () => {
  it.each<[ErrorCause, string, ErrorClass]>([
    [{ kind: "budget" }, "anything", "budget_exhausted"],
    [{ kind: "timeout" }, "HTTP 503", "handler_timeout"],
    [{ kind: "http_status", status: 401 }, "handler timed out", "auth_failed"],
    [{ kind: "http_status", status: 403 }, "nope", "auth_failed"],
    [{ kind: "http_status", status: 500 }, "unauthorized", "provider_5xx"],
    [{ kind: "http_status", status: 503 }, "", "provider_5xx"],
    [{ kind: "http_status", status: 599 }, "", "provider_5xx"],
    [{ kind: "predicate_panic" }, "x", "predicate_panic"],
    [{ kind: "handler_panic" }, "x", "handler_panic"],
  ])("%j + %j → %s", (cause, message, expected) => {
    expect(classifyError(cause, message)).toBe(expected);
  });
});

describe("classifyError: another HTTP status is authoritative over status-like text", () => {
  it.each<[number, string, ErrorClass]>([
    [404, "HTTP 404", "unknown"],
    [404, "forbidden path", "unknown"],
    [400, "upstream said HTTP 503", "unknown"],
    [429, "HTTP 401 in body", "unknown"],
    [408, "request timeout", "handler_timeout"],
    [402, "budget limit exceeded", "budget_exhausted"],
    [422, "handler panic in validation", "handler_panic"],
  ])("status %d + %j → %s", (status, message, expected) => {
    expect(classifyError({ kind: "http_status", status }, message)).toBe(expected);
  });

  it("an http_status cause without a status falls back to full text matching", () => {
    expect(classifyError({ kind: "http_status" }, "HTTP 401")).toBe("auth_failed");
  });
});

describe("classifyError: text fallback", () => {
  it.each<[ErrorCause | null, string, ErrorClass]>([
    [null, "budget exhausted for binding", "budget_exhausted"],
    [null, "Hourly BUDGET Exceeded", "budget_exhausted"],
    [null, "daily budget limit reached", "budget_exhausted"],
    [null, "budget ok", "unknown"],
    [null, "handler timed out after 30000ms", "handler_timeout"],
    [null, "TimeoutError: operation aborted", "handler_timeout"],
    [null, "deadline exceeded", "handler_timeout"],
    [null, "HTTP 401", "auth_failed"],
    [null, "HTTP 403", "auth_failed"],
    [null, "A2A task dispatch returned HTTP 401", "auth_failed"],
    [null, "upstream answered HTTP/1.1 403 Forbidden", "auth_failed"],
    [null, "status code: 401", "auth_failed"],
    [null, "Unauthorized", "auth_failed"],
    [null, "request forbidden by policy", "auth_failed"],
    [null, "Authentication required", "auth_failed"],
    [null, "HTTP 500", "provider_5xx"],
    [null, "A2A task dispatch returned HTTP 503", "provider_5xx"],
    [null, "status 502", "provider_5xx"],
    [null, "upstream connect error", "provider_5xx"],
    [null, "Service Unavailable", "provider_5xx"],
    [null, "predicate panic: division by zero", "predicate_panic"],
    [null, "predicate_panic in CEL", "predicate_panic"],
    [null, "handler panicked", "handler_panic"],
    [null, "connection refused", "unknown"],
    [null, "", "unknown"],
    [null, "HTTP 404", "unknown"],
    [null, "HTTP 429", "unknown"],
    // a URL that merely contains 4010 / 5003 is not a status
    [null, "fetch failed for https://hooks.example.com/4010/in", "unknown"],
    [null, "HTTP 4010", "unknown"],
    [null, "connect ECONNREFUSED http://127.0.0.1:4010/hook", "unknown"],
    [null, "job 5003 failed", "unknown"],
    // first match wins
    [null, "budget exhausted while upstream timed out", "budget_exhausted"],
    [null, "timed out waiting for HTTP 503", "handler_timeout"],
    [null, "HTTP 401 then panic", "auth_failed"],
    // structured kinds without a class of their own use the text
    [{ kind: "network" }, "upstream reset", "provider_5xx"],
    [{ kind: "network" }, "fetch failed: https://x.example/4010", "unknown"],
    [{ kind: "protocol" }, "A2A task dispatch failed: Unauthorized", "auth_failed"],
    [{ kind: "lease_expired" }, "lease expired", "unknown"],
    [
      { kind: "circuit_open" },
      "destination circuit opened for https:https://x/ after 5 consecutive failures: HTTP 502",
      "provider_5xx",
    ],
    [{ kind: "other" }, "deadline", "handler_timeout"],
  ])("%j + %j → %s", (cause, message, expected) => {
    expect(classifyError(cause, message)).toBe(expected);
  });
});
