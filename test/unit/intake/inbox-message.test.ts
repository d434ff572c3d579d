import { describe, expect, it } from "vitest";
import type { TriggerEvent } from "../../../src/contracts/events";
import { inboxMessageSchema } from "../../../src/contracts/messages";
import { inboxMessageFor } from "../../../src/intake/inbox-message";
import { CARRIED_EVENT_MAX_BYTES } from "../../../src/lib/message-size";

function eventWith(payload: unknown): TriggerEvent {
  return {
    id: "evt_1",
    provider: "github",
    kind: "issues.opened",
    received_at: "2026-11-26T00:00:00.000Z",
    occurred_at: null,
    dedupe_key: "d-1",
    trace_id: "trc_1",
    tenant_id: null,
    headers: { "x-github-event": "issues" },
    payload,
    signature_status: { state: "verified" },
  };
}

describe("inboxMessageFor", () => {
  it("carries a small event and its target, in the shape the consumer parses", () => {
    const event = eventWith({ action: "opened", title: "héllo ✓" });
    const message = inboxMessageFor(event, { binding_id: "b1", version: 2 });
    expect(message).toEqual({ v: 1, event_id: "evt_1", event, target: { binding_id: "b1", version: 2 } });
    expect(inboxMessageSchema.parse(JSON.parse(JSON.stringify(message)))).toEqual(message);
  });

  it("sends only the id when the event's JSON is over the limit in UTF-8 bytes", () => {
    // Under the limit in UTF-16 code units, over it in bytes: three bytes per character.
    const wide = "✓".repeat(Math.ceil(CARRIED_EVENT_MAX_BYTES / 3) + 1);
    expect(wide.length).toBeLessThan(CARRIED_EVENT_MAX_BYTES);
    expect(inboxMessageFor(eventWith({ wide }), null)).toEqual({ v: 1, event_id: "evt_1" });
  });
});
