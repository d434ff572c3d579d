import { sign } from "@octokit/webhooks-methods";
import { describe, expect, it } from "vitest";
import { api } from "../../support/api";
import { createSource, eventsOfSource, postHook } from "./support";

const SECRET = "dedupe-secret";

async function githubDelivery(source: string, body: string, delivery: string) {
  return postHook(source, body, {
    "content-type": "application/json",
    "x-github-event": "issues",
    "x-github-delivery": delivery,
    "x-hub-signature-256": await sign(SECRET, body),
  });
}

describe("intake dedupe", () => {
  it("answers a repeated GitHub delivery id with 200 duplicate naming the first event", async () => {
    const source = await createSource("dup", { verify: { style: "github", secret: SECRET } });
    const body = JSON.stringify({ action: "opened", n: 1 });
    const delivery = crypto.randomUUID();
    const first = await githubDelivery(source, body, delivery);
    expect(first.status).toBe(202);
    const second = await githubDelivery(source, body, delivery);
    expect(second.status).toBe(200);
    expect(second.body).toEqual({ status: "duplicate", event_id: first.body.event_id });
    // Even with a different body: the delivery id is the key.
    const third = await githubDelivery(source, JSON.stringify({ action: "opened", n: 2 }), delivery);
    expect(third.body).toEqual({ status: "duplicate", event_id: first.body.event_id });
    const stored = await eventsOfSource(source);
    expect(stored.map((e) => e.id)).toEqual([first.body.event_id]);
  });

  it("accepts exactly one of 20 concurrent identical deliveries", async () => {
    const source = await createSource("race", { verify: { style: "github", secret: SECRET } });
    const body = JSON.stringify({ action: "opened", race: true });
    const delivery = crypto.randomUUID();
    const answers = await Promise.all(Array.from({ length: 20 }, () => githubDelivery(source, body, delivery)));
    const accepted = answers.filter((a) => a.status === 202);
    const duplicates = answers.filter((a) => a.status === 200);
    expect(accepted).toHaveLength(1);
    expect(duplicates).toHaveLength(19);
    const eventId = accepted[0]?.body.event_id;
    for (const d of duplicates) expect(d.body).toEqual({ status: "duplicate", event_id: eventId });
    const stored = await eventsOfSource(source);
    expect(stored).toHaveLength(1);
    expect(stored[0].id).toBe(eventId);
    expect(stored[0].dedupe_key).toBe(delivery);
    // Only the accepted event wrote intake records.
    const records = await api("GET", "/v1/records?topic=trigger.inbox.envelopes&limit=500");
    expect(records.body.items.filter((r: { payload: { source: string } }) => r.payload.source === source)).toHaveLength(
      1,
    );
  });

  it("treats a different delivery id with the same body as a new event", async () => {
    const source = await createSource("diff", { verify: { style: "github", secret: SECRET } });
    const body = JSON.stringify({ action: "opened", same: true });
    const a = await githubDelivery(source, body, crypto.randomUUID());
    const b = await githubDelivery(source, body, crypto.randomUUID());
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(a.body.event_id).not.toBe(b.body.event_id);
    expect(await eventsOfSource(source)).toHaveLength(2);
  });

  it("scopes claims per source: the same delivery id on two sources is two events", async () => {
    const s1 = await createSource("scope", { verify: { style: "github", secret: SECRET } });
    const s2 = await createSource("scope", { verify: { style: "github", secret: SECRET } });
    const body = JSON.stringify({ action: "opened" });
    const delivery = crypto.randomUUID();
    expect((await githubDelivery(s1, body, delivery)).status).toBe(202);
    expect((await githubDelivery(s2, body, delivery)).status).toBe(202);
  });

  it("dedupes unsigned generic bodies by their sha256", async () => {
    const source = await createSource("hash", { verify: { style: "none" } });
    const first = await postHook(source, '{"a":1}', { "content-type": "application/json" });
    const again = await postHook(source, '{"a":1}', { "content-type": "application/json" });
    const other = await postHook(source, '{"a": 1}', { "content-type": "application/json" });
    expect(first.status).toBe(202);
    expect(again.body).toEqual({ status: "duplicate", event_id: first.body.event_id });
    expect(other.status).toBe(202);
  });

  it("accepts a redelivery as new once dedupe.window_s has passed", async () => {
    const source = await createSource("window", {
      verify: { style: "github", secret: SECRET },
      dedupe: { window_s: 1 },
    });
    const body = JSON.stringify({ action: "opened", window: 1 });
    const delivery = crypto.randomUUID();
    const first = await githubDelivery(source, body, delivery);
    expect(first.status).toBe(202);
    const within = await githubDelivery(source, body, delivery);
    expect(within.body).toEqual({ status: "duplicate", event_id: first.body.event_id });
    await new Promise((r) => setTimeout(r, 1_300));
    const later = await githubDelivery(source, body, delivery);
    expect(later.status).toBe(202);
    expect(later.body.event_id).not.toBe(first.body.event_id);
    // The new claim holds again.
    const repeat = await githubDelivery(source, body, delivery);
    expect(repeat.body).toEqual({ status: "duplicate", event_id: later.body.event_id });
    const stored = await eventsOfSource(source);
    expect(stored.map((e) => e.id).sort()).toEqual([first.body.event_id, later.body.event_id].sort());
  });
});
