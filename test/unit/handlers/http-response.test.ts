import { describe, expect, it } from "vitest";
import { classifyHttpResponse } from "../../../src/handlers/http-response";

const now = Date.parse("2026-01-01T00:00:00Z");
const h = (init: Record<string, string> = {}) => new Headers(init);

describe("classifyHttpResponse (SPEC 12.1)", () => {
  it("2xx is success with the JSON body, text, or null as result", () => {
    expect(classifyHttpResponse(200, h(), '{"a":1}', now)).toEqual({
      kind: "success",
      result: { a: 1 },
      status_code: 200,
    });
    expect(classifyHttpResponse(201, h(), "done", now)).toEqual({ kind: "success", result: "done", status_code: 201 });
    expect(classifyHttpResponse(204, h(), "", now)).toEqual({ kind: "success", result: null, status_code: 204 });
  });

  it("2xx with x-switchyard-outcome: waiting is waiting with the body's message", () => {
    expect(
      classifyHttpResponse(202, h({ "x-switchyard-outcome": "waiting" }), '{"message":"needs review"}', now),
    ).toEqual({
      kind: "waiting",
      message: "needs review",
      status_code: 202,
    });
  });

  it("denied header or 410 is a non-retryable failure", () => {
    expect(classifyHttpResponse(200, h({ "x-switchyard-outcome": "denied" }), '{"error":"not allowed"}', now)).toEqual({
      kind: "denied",
      error: "not allowed",
      status_code: 200,
    });
    expect(classifyHttpResponse(410, h(), "", now).kind).toBe("denied");
  });

  it("other statuses are retryable with the body error or HTTP <status>", () => {
    expect(classifyHttpResponse(500, h(), '{"error":"db down"}', now)).toEqual({
      kind: "retryable",
      error: "db down",
      cause: { kind: "http_status", status: 500 },
      status_code: 500,
      retry_after_ms: null,
    });
    expect(classifyHttpResponse(404, h(), "<html>", now)).toMatchObject({ kind: "retryable", error: "HTTP 404" });
    expect(classifyHttpResponse(302, h({ location: "http://10.0.0.1/" }), "", now)).toMatchObject({
      kind: "retryable",
      error: "HTTP 302",
    });
  });

  it("reads Retry-After only on 429 and 503", () => {
    expect(classifyHttpResponse(429, h({ "retry-after": "7" }), "", now)).toMatchObject({ retry_after_ms: 7000 });
    expect(classifyHttpResponse(503, h({ "retry-after": "2" }), "", now)).toMatchObject({ retry_after_ms: 2000 });
    expect(classifyHttpResponse(500, h({ "retry-after": "7" }), "", now)).toMatchObject({ retry_after_ms: null });
  });
});
