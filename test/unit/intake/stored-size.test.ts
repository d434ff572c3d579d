import { describe, expect, it } from "vitest";
import type { TriggerEvent } from "../../../src/contracts/events";
import { fitForStorage, MAX_STORED_EVENT_BYTES, storedEventBytes, utf8Length } from "../../../src/intake/stored-size";

function event(payload: unknown, raw_body?: string): TriggerEvent {
  return {
    id: "evt_1",
    provider: "webhook",
    kind: "webhook",
    received_at: "2026-01-01T00:00:00.000Z",
    occurred_at: null,
    dedupe_key: "k",
    trace_id: "trace_1",
    tenant_id: null,
    headers: { "content-type": "text/plain" },
    payload,
    ...(raw_body === undefined ? {} : { raw_body }),
    signature_status: { state: "unsigned" },
  };
}

const HEADERS_BYTES = JSON.stringify({ "content-type": "text/plain" }).length;

describe("utf8Length", () => {
  it.each([
    ["", 0],
    ["abc", 3],
    ["é", 2],
    ["€", 3],
    ["😀", 4],
    ["\ud800", 3],
    ["\udc00x", 4],
  ])("%j is %i bytes", (text, bytes) => {
    expect(utf8Length(text)).toBe(bytes);
    if (!/[\ud800-\udfff]/.test(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""))) {
      expect(utf8Length(text)).toBe(new TextEncoder().encode(text).length);
    }
  });
});

describe("storedEventBytes", () => {
  it("counts headers and payload as stored JSON, plus the kept raw body", () => {
    expect(storedEventBytes(event({ a: "é" }, "QUJD"))).toBe(HEADERS_BYTES + '{"a":"é"}'.length + 1 + 4);
  });

  it("counts control characters as their JSON escapes", () => {
    expect(storedEventBytes(event("\u0001"))).toBe(HEADERS_BYTES + '"\\u0001"'.length);
  });
});

describe("fitForStorage", () => {
  it("keeps an event that fits unchanged", () => {
    const small = event({ a: 1 }, "QUJD");
    expect(fitForStorage(small)).toEqual({ ok: true, event: small });
  });

  it("drops the optional raw body when only it does not fit", () => {
    const e = event({ raw_utf8: "x".repeat(60) }, "y".repeat(60));
    const max = storedEventBytes(e) - 1;
    const fit = fitForStorage(e, max);
    expect(fit.ok).toBe(true);
    expect(fit.ok && fit.event.raw_body).toBeUndefined();
    expect(fit.ok && fit.event.payload).toEqual(e.payload);
  });

  it("refuses an event whose normalised payload alone is too large, reporting its size", () => {
    const e = event({ raw_utf8: "\u0001".repeat(400_000) }, "QUJD");
    const fit = fitForStorage(e);
    expect(fit).toEqual({ ok: false, bytes: storedEventBytes(e) - 4 });
    expect(fit.ok || fit.bytes > MAX_STORED_EVENT_BYTES).toBe(true);
  });
});
