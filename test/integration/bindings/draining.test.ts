import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { terminateIfDrained } from "../../../src/db/bindings-repo";
import { api, eventually, handler, unique, waitForDispatch } from "../../support/api";

// biome-ignore lint/suspicious/noExplicitAny: API bodies are asserted field by field
type Json = any;

async function stateOf(id: string, version: number): Promise<string | undefined> {
  const res = await api("GET", `/v1/bindings/${id}`);
  return res.body.versions.find((v: Json) => v.version === version)?.state;
}

async function publish(provider: string, kind: string, payload: unknown = {}) {
  const res = await api("POST", "/v1/events", { provider, kind, payload });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.event_id as string;
}

describe("draining with a dispatch in flight (SPEC 5.2)", () => {
  it("keeps v1 draining while its dispatch runs, finishes it on v1, then terminates v1; new events go to v2", async () => {
    const provider = unique("drain");
    const slow = unique("slow");
    const fast = unique("fast");
    await handler.script(slow, { responses: [{ status: 200, body: { version: 1 }, delay_ms: 4000 }] });
    await handler.script(fast, { responses: [], otherwise: { status: 200, body: { version: 2 } } });
    const id = unique("b");
    const v1 = await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(slow) });
    expect(v1.status).toBe(201);

    const first = await publish(provider, "job.created");
    const running = await waitForDispatch(`${id}@v1`, first, ["running", "succeeded", "failed", "dlq"]);
    expect(running.status).toBe("running");

    const v2 = await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(fast) });
    expect(v2.status).toBe(201);
    expect(v2.body).toMatchObject({ version: 2, state: "active" });

    // The dispatch is still running on v1, so v1 must stay draining.
    expect(await stateOf(id, 1)).toBe("draining");
    const stillRunning = await api("GET", `/v1/dispatches/${encodeURIComponent(`${id}@v1`)}/${first}`);
    expect(stillRunning.body.status).toBe("running");

    // A new event goes to v2 only, even while v1 is draining. (Its attempt may queue behind the slow one
    // locally, so only its creation is awaited here.)
    const second = await publish(provider, "job.created");
    await waitForDispatch(`${id}@v2`, second, ["pending", "admitted", "running", "succeeded"]);
    const v1Dispatch = await api("GET", `/v1/dispatches/${encodeURIComponent(`${id}@v1`)}/${first}`);
    expect(v1Dispatch.body.status).toBe("running");
    expect(await stateOf(id, 1)).toBe("draining");

    // The in-flight dispatch finishes on the version it started on…
    const done = await waitForDispatch(`${id}@v1`, first, ["succeeded", "failed", "dlq"]);
    expect(done).toMatchObject({ status: "succeeded", attempt_count: 1, result: { version: 1 } });
    expect(done.target_uri).toBe(handler.url(slow));
    // …and only then does v1 terminate.
    await eventually(async () => ((await stateOf(id, 1)) === "terminated" ? true : undefined));
    expect(await stateOf(id, 2)).toBe("active");
    const onV2 = await waitForDispatch(`${id}@v2`, second, ["succeeded", "failed", "dlq"]);
    expect(onV2).toMatchObject({ status: "succeeded", result: { version: 2 }, binding_key: `${id}@v2` });

    const lifecycle = await api(
      "GET",
      `/v1/records?topic=triggers.lifecycle&binding_key=${encodeURIComponent(`${id}@v1`)}&limit=500`,
    );
    const items: Json[] = lifecycle.body.items;
    const seqOf = (pred: (r: Json) => boolean) => items.find(pred)?.seq;
    const drainingSeq = seqOf((r) => r.kind === "state_transition" && r.payload.to === "draining");
    const succeededSeq = seqOf((r) => r.kind === "DispatchSucceeded" && r.event_id === first);
    const terminatedSeq = seqOf((r) => r.kind === "state_transition" && r.payload.to === "terminated");
    expect(drainingSeq).toBeDefined();
    expect(succeededSeq).toBeDefined();
    expect(terminatedSeq).toBeDefined();
    expect(drainingSeq).toBeLessThan(succeededSeq);
    expect(succeededSeq).toBeLessThan(terminatedSeq);

    const detail = await api("GET", `/v1/events/${second}`);
    expect(detail.body.dispatches.map((d: Json) => d.binding_key)).toEqual([`${id}@v2`]);
    const firstDetail = await api("GET", `/v1/events/${first}`);
    expect(firstDetail.body.dispatches.map((d: Json) => d.binding_key)).toEqual([`${id}@v1`]);

    expect(await handler.calls(slow)).toHaveLength(1);
    expect(await handler.calls(fast)).toHaveLength(1);
  });

  it("DELETE while a dispatch is in flight lets it finish, then terminates", async () => {
    const provider = unique("del");
    const slow = unique("slow");
    await handler.script(slow, { responses: [{ status: 200, body: { ok: true }, delay_ms: 1000 }] });
    const id = unique("b");
    expect((await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(slow) })).status).toBe(201);
    const eventId = await publish(provider, "job.created");
    await waitForDispatch(`${id}@v1`, eventId, ["running"]);

    expect((await api("DELETE", `/v1/bindings/${id}`)).status).toBe(204);
    expect(await stateOf(id, 1)).toBe("draining");

    // A draining binding takes no new untargeted events.
    const ignored = await publish(provider, "job.created");
    const done = await waitForDispatch(`${id}@v1`, eventId, ["succeeded", "failed", "dlq"]);
    expect(done.status).toBe("succeeded");
    await eventually(async () => ((await stateOf(id, 1)) === "terminated" ? true : undefined));
    await eventually(async () => {
      const res = await api("GET", `/v1/events/${ignored}`);
      return res.status === 200 ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 300));
    expect((await api("GET", `/v1/events/${ignored}`)).body.dispatches).toEqual([]);
    expect(await handler.calls(slow)).toHaveLength(1);
  });
});

describe("terminateIfDrained (the D1 side of draining)", () => {
  it("refuses while D1 shows a live dispatch, then terminates exactly once with one record", async () => {
    const id = unique("term");
    expect(
      (await api("PUT", `/v1/bindings/${id}`, { provider: "github", handler: "https://x.example/in" })).status,
    ).toBe(201);
    const key = `${id}@v1`;
    // A live dispatch the gate does not know about (e.g. still being mirrored from another path).
    await env.DB.prepare(
      `insert into dispatches (dispatch_id, binding_key, binding_id, binding_version, event_id, trace_id, status,
         attempt_count, handler_kind, target_uri, created_at, updated_at)
       values (?1, ?2, ?3, 1, 'evt_fake', 'trace_fake', 'running', 1, 'https', 'https://x.example/in', ?4, ?4)`,
    )
      .bind(`${key}|evt_fake`, key, id, new Date().toISOString())
      .run();
    expect(
      (await api("PUT", `/v1/bindings/${id}`, { provider: "stripe", handler: "https://x.example/in" })).status,
    ).toBe(201);
    await new Promise((r) => setTimeout(r, 300));
    expect(await stateOf(id, 1)).toBe("draining");
    expect(await terminateIfDrained(env.DB, key, Date.now())).toBe(false);

    await env.DB.prepare("update dispatches set status = 'succeeded' where dispatch_id = ?1")
      .bind(`${key}|evt_fake`)
      .run();
    expect(await terminateIfDrained(env.DB, key, Date.now())).toBe(true);
    expect(await terminateIfDrained(env.DB, key, Date.now())).toBe(false);
    expect(await stateOf(id, 1)).toBe("terminated");
    expect(await terminateIfDrained(env.DB, `${id}@v2`, Date.now())).toBe(false);
    expect(await stateOf(id, 2)).toBe("active");

    const res = await api(
      "GET",
      `/v1/records?topic=triggers.lifecycle&kind=state_transition&binding_key=${encodeURIComponent(key)}`,
    );
    expect(res.body.items.map((r: Json) => `${r.payload.from}→${r.payload.to}`)).toEqual([
      "null→active",
      "active→draining",
      "draining→terminated",
    ]);
    const terminated = res.body.items[2];
    expect(terminated).toMatchObject({
      topic: "triggers.lifecycle",
      kind: "state_transition",
      tenant_id: null,
      binding_key: key,
      headers: {},
      payload: { binding_id: id, version: 1, binding_key: key, from: "draining", to: "terminated" },
    });
  });
});
