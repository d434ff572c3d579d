/** Console pages render real data from the API: events, detail, graph, DLQ, bindings, circuits, approvals. */
import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { api, BASE, eventually, handler, unique, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";
import { followFlash, login, rowOf, TOKEN } from "./support";

type Client = Awaited<ReturnType<typeof login>>;

const ok = { responses: [], otherwise: { status: 200, body: { handled: true } } };
const down = { responses: [], otherwise: { status: 500, body: { error: "database unavailable" } } };
const once = { retry: { max_attempts: 1 } };

/** Whether this build serves `/v1/approvals` (SPEC 19); the page copes either way. */
const approvalsApi = (await api("GET", "/v1/approvals")).status === 200;

let client: Client;
beforeAll(async () => {
  client = await login();
});

describe("events pages", () => {
  it("the events page lists a published event with its dispatch, newest first", async () => {
    const b = await scriptedBinding(ok);
    const first = await publish(b.provider, "order.created", { order: 1 });
    const second = await publish(b.provider, "order.created", { order: 2 });
    await waitForDispatch(b.bindingKey, second.event_id, ["succeeded"]);
    await waitForDispatch(b.bindingKey, first.event_id, ["succeeded"]);
    const page = await client.get(`/console/events?provider=${b.provider}`);
    expect(page.status).toBe(200);
    expect(page.html.indexOf(second.event_id)).toBeLessThan(page.html.indexOf(first.event_id));
    const row = rowOf(page.html, "data-event-id", first.event_id);
    expect(row).toContain(b.bindingKey);
    expect(row).toContain("succeeded");
    expect(row).toContain(`/console/traces/${first.trace_id}`);
    expect(page.html).toContain('data-live="3000"');
  });

  it("filters: provider/kind via the API, dispatch status over each event's dispatches", async () => {
    const b = await scriptedBinding(ok);
    const { event_id } = await publish(b.provider, "order.paid");
    await waitForDispatch(b.bindingKey, event_id, ["succeeded"]);
    const q = `provider=${b.provider}`;
    expect((await client.get(`/console/events?${q}&kind=order.paid`)).html).toContain(event_id);
    expect((await client.get(`/console/events?${q}&kind=order.refunded`)).html).toContain("No events match.");
    expect((await client.get(`/console/events?${q}&status=succeeded`)).html).toContain(event_id);
    const dlq = await client.get(`/console/events?${q}&status=dlq`);
    expect(dlq.html).not.toContain(event_id);
    expect(dlq.html).toContain("events scanned for status dlq");
    const bogus = await client.get(`/console/events?${q}&status=bogus`);
    expect(bogus.status).toBe(200);
    expect(bogus.html).toContain("&#39;bogus&#39; is not a dispatch status");
  });

  it("a waiting dispatch can be cancelled from the event page", async () => {
    const b = await scriptedBinding({
      responses: [{ status: 202, headers: { "x-switchyard-outcome": "waiting" }, body: { message: "later" } }],
    });
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["waiting"]);
    const page = await client.get(`/console/events/${event_id}`);
    expect(page.html).toContain('action="/console/dispatches/cancel"');
    const done = await followFlash(
      client,
      await client.post("/console/dispatches/cancel", {
        binding_key: b.bindingKey,
        event_id,
        return_to: `/console/events/${event_id}`,
      }),
    );
    expect(done.message).toBe(`Cancel of ${b.bindingKey} requested (cancelled).`);
    expect(done.html).toContain(`data-dispatch="${b.bindingKey}" data-status="cancelled"`);
    expect(done.html).not.toContain('action="/console/dispatches/cancel"');
  });

  it("an API validation error is shown as a readable message, not a 500", async () => {
    const page = await client.get(`/console/events?provider=${"x".repeat(100)}`);
    expect(page.status).toBe(200);
    expect(page.html).toContain("Could not load events");
    expect(page.html).toContain("HTTP 400");
  });

  it("the live fragment is only the region's content", async () => {
    const b = await scriptedBinding(ok);
    const { event_id } = await publish(b.provider);
    const fragment = await client.get(`/console/events?provider=${b.provider}`, {
      "x-console-fragment": "events-live",
    });
    expect(fragment.status).toBe(200);
    expect(fragment.html).toContain(event_id);
    expect(fragment.html).not.toContain("<html");
    const unknown = await client.get("/console/events", { "x-console-fragment": "nope" });
    expect(unknown.status).toBe(404);
  });

  it("event detail: payload, the dispatch with its attempts, and the timeline in seq order", async () => {
    const b = await scriptedBinding(ok);
    const { event_id, trace_id } = await publish(b.provider, "order.shipped", { carrier: "<b>acme</b>" });
    await waitForDispatch(b.bindingKey, event_id, ["succeeded"]);
    const page = await client.get(`/console/events/${event_id}`);
    expect(page.status).toBe(200);
    // The payload is pretty-printed and escaped.
    expect(page.html).toContain("&quot;carrier&quot;: &quot;&lt;b&gt;acme&lt;/b&gt;&quot;");
    expect(page.html).not.toContain("<b>acme</b>");
    expect(page.html).toContain(`data-dispatch="${b.bindingKey}" data-status="succeeded"`);
    expect(page.html).toMatch(/<tr><td class="num">1<\/td>.*?tone-ok">succeeded<.*?<td class="num">200<\/td>/s);
    expect(page.html).toContain(`/console/traces/${trace_id}`);
    const seqs = [...page.html.matchAll(/<td class="num mono">(\d+)<\/td>/g)].map((m) => Number(m[1]));
    expect(seqs.length).toBeGreaterThan(1);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(page.html).toContain('data-kind="event_accepted"');
    expect(page.html).toContain('data-kind="DispatchStarted"');
    // Every dispatch is terminal: the live region stops polling.
    const fragment = await client.get(`/console/events/${event_id}`, { "x-console-fragment": "event-live" });
    expect(fragment.headers.get("x-console-live")).toBe("stop");
  });

  it("an unknown event is a readable 404 page", async () => {
    const page = await client.get("/console/events/evt_does_not_exist");
    expect(page.status).toBe(404);
    expect(page.html).toContain("Could not load the event");
    expect(page.html).toContain("not found");
  });

  it("replay from the event page runs the event again", async () => {
    const b = await scriptedBinding(ok);
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["succeeded"]);
    const res = await client.post(`/console/events/${event_id}/replay`);
    const { location, message } = await followFlash(client, res);
    expect(location).toBe(`/console/events/${event_id}`);
    expect(message).toBe(`Replay started on ${b.bindingKey}.`);
    await eventually(async () => {
      const list = await api("GET", `/v1/dispatches?replay_of_event_id=${event_id}`);
      return list.body.items.some((d: { status: string }) => d.status === "succeeded") ? true : undefined;
    });
  });
});

describe("trace graph page", () => {
  it("draws the action graph as an inline SVG with the trigger and dispatch nodes", async () => {
    const b = await scriptedBinding(ok);
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["succeeded"]);
    const page = await eventually(async () => {
      const p = await client.get(`/console/traces/${trace_id}`);
      return p.html.includes('data-status="succeeded"') ? p : undefined;
    });
    expect(page.html).toContain("<svg");
    expect(page.html).toContain(`data-node-id="trigger:${event_id}"`);
    expect(page.html).toContain(`data-node-id="dispatch:${b.bindingKey}:${event_id}:1"`);
    expect(page.html).toContain('class="node n-ok"');
    expect(page.html).toContain(`data-edge="trigger:${event_id} -&gt; dispatch:${b.bindingKey}:${event_id}:1"`);
    expect(page.html).toContain(`href="/console/events/${event_id}"`);
  });

  it("a finished retry chain stops the live refresh; a dispatch still retrying keeps it", async () => {
    const fast = { retry: { max_attempts: 3, policy: { linear: { delay_ms: 20 } } } };
    const b = await scriptedBinding({ responses: [{ status: 500 }], otherwise: { status: 200 } }, fast);
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["succeeded"]);
    const done = await client.get(`/console/traces/${trace_id}`, { "x-console-fragment": "graph-live" });
    expect(done.html).toContain(`data-node-id="retry:${b.bindingKey}:${event_id}:2"`);
    expect(done.headers.get("x-console-live")).toBe("stop");

    const slow = { retry: { max_attempts: 3, policy: { linear: { delay_ms: "1h" } } } };
    const s = await scriptedBinding({ responses: [], otherwise: { status: 500 } }, slow);
    const waiting = await publish(s.provider);
    await waitForDispatch(s.bindingKey, waiting.event_id, ["retry_scheduled"]);
    const live = await eventually(async () => {
      const p = await client.get(`/console/traces/${waiting.trace_id}`, { "x-console-fragment": "graph-live" });
      return p.html.includes(`retry:${s.bindingKey}:${waiting.event_id}:2`) ? p : undefined;
    });
    expect(live.headers.get("x-console-live")).toBeNull();
  });

  it("an unknown trace is a readable 404 page", async () => {
    const page = await client.get("/console/traces/no-such-trace");
    expect(page.status).toBe(404);
    expect(page.html).toContain("Could not load the action graph");
  });
});

describe("DLQ page", () => {
  it("lists a dead-lettered dispatch; replay after the handler recovers resolves it", async () => {
    const b = await scriptedBinding(down, once);
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["dlq"]);
    const entry = await eventually(async () => {
      const r = await api("GET", `/v1/dlq?binding_id=${b.id}`);
      return r.body.items[0];
    });
    const page = await client.get(`/console/dlq?binding_id=${b.id}`);
    const row = rowOf(page.html, "data-dlq-id", entry.id);
    expect(row).toContain('data-state="pending"');
    expect(row).toContain("provider_5xx");
    expect(row).toContain(event_id);

    await handler.script(b.hook, ok);
    const res = await client.post(`/console/dlq/${entry.id}/replay`, { return_to: `/console/dlq?binding_id=${b.id}` });
    const { location, message } = await followFlash(client, res);
    expect(location).toBe(`/console/dlq?binding_id=${b.id}`);
    expect(message).toContain(`Replay of ${entry.id} started`);
    await eventually(async () => {
      const p = await client.get(`/console/dlq?binding_id=${b.id}`);
      return rowOf(p.html, "data-dlq-id", entry.id).includes('data-state="resolved"') ? true : undefined;
    });
    // A second replay of a resolved entry is refused with the API's reason.
    const again = await followFlash(client, await client.post(`/console/dlq/${entry.id}/replay`));
    expect(again.message).toContain("already resolved");
  });

  it("resolve marks an entry resolved without replaying it", async () => {
    const b = await scriptedBinding(down, once);
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["dlq"]);
    const entry = await eventually(async () => (await api("GET", `/v1/dlq?binding_id=${b.id}`)).body.items[0]);
    const { message } = await followFlash(client, await client.post(`/console/dlq/${entry.id}/resolve`));
    expect(message).toBe(`${entry.id} marked resolved.`);
    expect((await api("GET", `/v1/dlq/${entry.id}`)).body.state).toBe("resolved");
    expect(await handler.calls(b.hook)).toHaveLength(1);
  });

  it("bulk replay: the dry run shows count and ids; a changed set asks again; confirming replays them", async () => {
    const b = await scriptedBinding(down, once);
    const events = [await publish(b.provider), await publish(b.provider)];
    for (const e of events) await waitForDispatch(b.bindingKey, e.event_id, ["dlq"]);
    const ids = await eventually(async () => {
      const r = await api("GET", `/v1/dlq?binding_id=${b.id}&state=pending`);
      return r.body.items.length === 2 ? (r.body.items.map((i: { id: string }) => i.id) as string[]) : undefined;
    });

    const preview = await client.get(`/console/dlq/bulk?binding_id=${b.id}`);
    expect(preview.status).toBe(200);
    expect(preview.html).toContain('data-bulk-count="2"');
    for (const id of ids) expect(preview.html).toContain(`<li>${id}</li>`);
    expect(preview.html).toContain('data-busy="Replaying 2 entries…"');
    expect(await handler.calls(b.hook)).toHaveLength(2); // the dry run ran nothing

    // Confirming a set that is not the current one shows the new set instead of running.
    const stale = await client.post("/console/dlq/bulk", { binding_id: b.id, expected: ids[0]! });
    expect(stale.status).toBe(409);
    expect(stale.html).toContain("The matching entries changed since the dry run");
    expect(stale.html).toContain('data-bulk-count="2"');

    await handler.script(b.hook, ok);
    const res = await client.post("/console/dlq/bulk", { binding_id: b.id, expected: ids.join(",") });
    const { message } = await followFlash(client, res);
    expect(message).toContain("Replayed 2 DLQ entries");
    await eventually(async () => {
      const r = await api("GET", `/v1/dlq?binding_id=${b.id}&state=resolved`);
      return r.body.items.length === 2 ? true : undefined;
    });
  });

  it("an invalid filter is shown as the API's message", async () => {
    const page = await client.get("/console/dlq?error_class=bogus");
    expect(page.status).toBe(200);
    expect(page.html).toContain("Could not load the DLQ");
    const dry = await client.get("/console/dlq/bulk?since=yesterday");
    expect(dry.html).toContain("Could not load the dry run");
    expect(dry.html).toContain("since must be an RFC 3339 timestamp");
  });
});

describe("bindings, circuits and approvals pages", () => {
  it("bindings: versions, state, live gate counts, pause and resume", async () => {
    const b = await scriptedBinding(ok);
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["succeeded"]);
    const page = await client.get("/console/bindings");
    expect(page.html).toContain(`data-binding-id="${b.id}" data-paused="false"`);
    expect(page.html).toContain(`data-binding-key="${b.bindingKey}"`);
    expect(page.html).toMatch(/\d+ in flight · \d+ retrying · \d+ held/);
    expect(page.html).toContain("DLQ depth");

    const paused = await followFlash(client, await client.post(`/console/bindings/${b.id}/pause`));
    expect(paused.message).toBe(`${b.id} paused: new dispatches are held.`);
    expect(paused.html).toContain(`data-binding-id="${b.id}" data-paused="true"`);
    expect((await api("GET", `/v1/bindings/${b.id}`)).body.paused).toBe(true);
    await followFlash(client, await client.post(`/console/bindings/${b.id}/resume`));
    expect((await api("GET", `/v1/bindings/${b.id}`)).body.paused).toBe(false);

    const missing = await followFlash(client, await client.post("/console/bindings/no-such-binding/pause"));
    expect(missing.message).toContain("Could not pause no-such-binding");
  });

  it("circuits: one row per known destination", async () => {
    const b = await scriptedBinding(ok);
    const { event_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["succeeded"]);
    const page = await client.get("/console/circuits");
    expect(page.status).toBe(200);
    expect(page.html).toMatch(/data-destination="[^"]+" data-state="closed"/);
  });

  it("approvals: renders the pending list, or says the API has none yet", async () => {
    const page = await client.get("/console/approvals");
    expect(page.status).toBe(200);
    expect(page.html).toMatch(/No approvals are waiting|data-approval-id=|not available on this deployment/);
    const decide = await followFlash(
      client,
      await client.post("/console/approvals/apr_nope/decide", { decision: "approve" }),
    );
    expect(decide.message).toMatch(/not available on this deployment|Could not approve apr_nope/);
    const invalid = await followFlash(
      client,
      await client.post("/console/approvals/apr_nope/decide", { decision: "maybe" }),
    );
    expect(invalid.message).toBe("Choose approve or deny.");
  });

  it.runIf(approvalsApi)("approvals: approve and deny pending requests from the page", async () => {
    const budget = { autonomy: { tier: "act_auto", max_decisions_per_hour: 0 } };
    const b = await scriptedBinding(ok, budget);
    const first = await publish(b.provider);
    const second = await publish(b.provider);
    for (const e of [first, second]) await waitForDispatch(b.bindingKey, e.event_id, ["waiting"]);
    const pending = await eventually(async () => {
      const r = await api("GET", "/v1/approvals?state=pending&limit=500");
      const mine = r.body.items.filter((a: { binding_key: string }) => a.binding_key === b.bindingKey);
      return mine.length === 2 ? (mine as { id: string; event_id: string }[]) : undefined;
    });
    const page = await client.get("/console/approvals");
    for (const a of pending) expect(rowOf(page.html, "data-approval-id", a.id)).toContain(a.event_id);

    const approve = pending.find((a) => a.event_id === first.event_id)!;
    const deny = pending.find((a) => a.event_id === second.event_id)!;
    const approved = await followFlash(
      client,
      await client.post(`/console/approvals/${approve.id}/decide`, {
        decision: "approve",
        reviewer: "ops",
        reason: "ok",
      }),
    );
    expect(approved.message).toBe(`${approve.id} approved.`);
    expect(approved.html).not.toContain(`data-approval-id="${approve.id}"`);
    await waitForDispatch(b.bindingKey, first.event_id, ["succeeded"]);
    const denied = await followFlash(
      client,
      await client.post(`/console/approvals/${deny.id}/decide`, { decision: "deny" }),
    );
    expect(denied.message).toBe(`${deny.id} denied.`);
    await waitForDispatch(b.bindingKey, second.event_id, ["failed"]);
    const again = await followFlash(
      client,
      await client.post(`/console/approvals/${deny.id}/decide`, { decision: "approve" }),
    );
    expect(again.message).toContain(`Could not approve ${deny.id}`);
  });

  it("sources: lists sources; a Notion set-up shows its token once", async () => {
    const name = unique("notion-console");
    expect((await api("PUT", `/v1/sources/${name}`, { verify: { style: "notion" } })).status).toBe(201);
    const awaiting = await client.get("/console/sources");
    expect(awaiting.status).toBe(200);
    const row = rowOf(awaiting.html, "data-source", name);
    expect(row).toContain("awaiting Notion&#39;s verification request");
    expect(row).toContain(`/hooks/${name}`);
    expect(row).not.toContain("Show token");

    const token = `secret_${unique("tok")}`;
    const hook = await exports.default.fetch(`${BASE}/hooks/${name}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ verification_token: token }),
    });
    expect(hook.status).toBe(200);
    const received = await client.get("/console/sources");
    expect(received.html).not.toContain(token);
    expect(rowOf(received.html, "data-source", name)).toContain("Show token (once)");

    const shown = await client.post(`/console/sources/${name}/verification-token`);
    expect(shown.status).toBe(200);
    expect(shown.html).toContain(token);
    const again = await followFlash(client, await client.post(`/console/sources/${name}/verification-token`));
    expect(again.message).toMatch(/^Could not read the token: .*already read/);
    expect(again.html).not.toContain(token);
    expect(rowOf(again.html, "data-source", name)).toContain("token read");
  });

  it("an unknown console page is an HTML 404", async () => {
    const page = await client.get("/console/nowhere");
    expect(page.status).toBe(404);
    expect(page.html).toContain("There is no console page at /console/nowhere.");
  });
});

describe("no secrets in the console", () => {
  it("no page shows the admin token, a source secret or a binding signing secret", async () => {
    const sourceSecret = `whsec-${unique("s")}`;
    const source = unique("src");
    expect(
      (await api("PUT", `/v1/sources/${source}`, { verify: { style: "hmac", secret: sourceSecret } })).status,
    ).toBe(201);
    const b = await scriptedBinding(down, once);
    const { event_id, trace_id } = await publish(b.provider);
    await waitForDispatch(b.bindingKey, event_id, ["dlq"]);
    const signing = (await api("GET", `/v1/bindings/${b.id}/signing-secret`)).body.signing_secret as string;
    expect(signing.length).toBeGreaterThan(8);
    const paths = [
      "/console/events",
      `/console/events/${event_id}`,
      `/console/traces/${trace_id}`,
      "/console/dlq",
      `/console/dlq/bulk?binding_id=${b.id}`,
      "/console/bindings",
      "/console/circuits",
      "/console/approvals",
      "/console/sources",
      "/console/login",
    ];
    for (const path of paths) {
      const page = await client.get(path);
      expect(page.status, path).toBeLessThan(500);
      for (const secret of [TOKEN, sourceSecret, signing]) expect(page.html, path).not.toContain(secret);
    }
  });
});

describe("binding preview page", () => {
  it("starts from a binding's active spec and shows each event's outcome and the summary", async () => {
    const b = await scriptedBinding(ok);
    const first = await publish(b.provider, "order.created", { order: 1 });
    await waitForDispatch(b.bindingKey, first.event_id, ["succeeded"]);
    const form = await client.get(`/console/preview?binding=${encodeURIComponent(b.id)}`);
    expect(form.status).toBe(200);
    expect(form.html).toContain("<textarea");
    expect(form.html).toContain(b.provider);

    const spec = JSON.stringify({ provider: b.provider, events: ["order.created"], handler: "https://example.com/h" });
    const page = await client.post("/console/preview", { spec, limit: "1000" });
    expect(page.status).toBe(200);
    expect(page.html).toContain("data-preview-summary");
    const row = rowOf(page.html, "data-event-id", first.event_id);
    expect(row).toContain('data-outcome="dispatch"');
  });

  it("shows a spec that is not JSON, or one the API rejects, as a message", async () => {
    const notJson = await client.post("/console/preview", { spec: "{provider:" });
    expect(notJson.status).toBe(400);
    expect(notJson.html).toContain("The spec is not JSON");
    const invalid = await client.post("/console/preview", { spec: JSON.stringify({ provider: "github" }) });
    expect(invalid.status).toBe(400);
    expect(invalid.html).toContain("invalid binding spec");
    expect(invalid.html).toContain("<textarea");
  });
});
