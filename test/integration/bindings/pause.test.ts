import { describe, expect, it } from "vitest";
import { api, eventually, handler, unique, waitForDispatch } from "../../support/api";

async function publish(provider: string, kind = "job.created") {
  const res = await api("POST", "/v1/events", { provider, kind, payload: { n: 1 } });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body.event_id as string;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("pause and resume (SPEC 5.2, 13.3)", () => {
  it("holds dispatches while paused without calling the handler, and runs them once on resume", async () => {
    const provider = unique("pause");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { done: true } } });
    const id = unique("b");
    const put = await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook) });
    expect(put.status).toBe(201);

    const paused = await api("POST", `/v1/bindings/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ id, paused: true, versions: [{ version: 1, state: "active" }] });
    expect((await api("GET", `/v1/bindings/${id}`)).body.paused).toBe(true);
    // Pausing twice is harmless.
    expect((await api("POST", `/v1/bindings/${id}/pause`)).body.paused).toBe(true);

    const eventId = await publish(provider);
    const held = await waitForDispatch(`${id}@v1`, eventId, ["held", "running", "succeeded"]);
    expect(held.status).toBe("held");
    expect(held.attempt_count).toBe(0);
    await settle(500);
    expect((await api("GET", `/v1/dispatches/${encodeURIComponent(`${id}@v1`)}/${eventId}`)).body.status).toBe("held");
    expect(await handler.calls(hook)).toHaveLength(0);

    const resumed = await api("POST", `/v1/bindings/${id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ id, paused: false });

    const done = await waitForDispatch(`${id}@v1`, eventId, ["succeeded", "failed", "dlq"]);
    expect(done).toMatchObject({ status: "succeeded", attempt_count: 1, result: { done: true } });
    await settle(300);
    expect(await handler.calls(hook)).toHaveLength(1);

    // After resume new events run straight away.
    const next = await publish(provider);
    expect((await waitForDispatch(`${id}@v1`, next, ["succeeded", "failed", "dlq"])).status).toBe("succeeded");
    expect(await handler.calls(hook)).toHaveLength(2);
  });

  it("keeps a binding paused across a new version, and resume releases held dispatches in arrival order", async () => {
    const provider = unique("pausev");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const id = unique("b");
    expect((await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook) })).status).toBe(201);
    expect((await api("POST", `/v1/bindings/${id}/pause`)).status).toBe(200);

    // A new version created while paused is paused too.
    const v2 = await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook), timeout_ms: "10s" });
    expect(v2.status).toBe(201);
    expect((await api("GET", `/v1/bindings/${id}`)).body.paused).toBe(true);

    const first = await publish(provider);
    const second = await publish(provider);
    for (const e of [first, second]) {
      expect((await waitForDispatch(`${id}@v2`, e, ["held", "running", "succeeded"])).status).toBe("held");
    }
    await settle(300);
    expect(await handler.calls(hook)).toHaveLength(0);

    expect((await api("POST", `/v1/bindings/${id}/resume`)).status).toBe(200);
    for (const e of [first, second]) {
      expect((await waitForDispatch(`${id}@v2`, e, ["succeeded", "failed", "dlq"])).status).toBe("succeeded");
    }
    const calls = await handler.calls(hook);
    expect(calls).toHaveLength(2);
    expect(calls.map((c: { body: string }) => JSON.parse(c.body).event.id).sort()).toEqual([first, second].sort());
  });

  it("a held dispatch keeps its superseded version draining until resume lets it finish there", async () => {
    const provider = unique("pausedrain");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const id = unique("b");
    expect((await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook) })).status).toBe(201);
    expect((await api("POST", `/v1/bindings/${id}/pause`)).status).toBe(200);
    const eventId = await publish(provider);
    expect((await waitForDispatch(`${id}@v1`, eventId, ["held", "running", "succeeded"])).status).toBe("held");

    expect(
      (await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook), timeout_ms: 5000 })).status,
    ).toBe(201);
    await settle(500);
    const versionsOf = async () =>
      (await api("GET", `/v1/bindings/${id}`)).body.versions.map((v: { state: string }) => v.state);
    expect(await versionsOf()).toEqual(["draining", "active"]);

    expect((await api("POST", `/v1/bindings/${id}/resume`)).status).toBe(200);
    expect((await waitForDispatch(`${id}@v1`, eventId, ["succeeded", "failed", "dlq"])).status).toBe("succeeded");
    await eventually(async () => ((await versionsOf())[0] === "terminated" ? true : undefined));
    expect(await handler.calls(hook)).toHaveLength(1);
  });

  it("resume of a binding that is not paused is a no-op 200", async () => {
    const id = unique("b");
    expect(
      (await api("PUT", `/v1/bindings/${id}`, { provider: "github", handler: "https://x.example/in" })).status,
    ).toBe(201);
    const res = await api("POST", `/v1/bindings/${id}/resume`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id, paused: false });
  });
});
