import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";
import { api, handler, unique, waitForDispatch } from "../../support/api";

describe("GET /v1/bindings/:id/signing-secret (SPEC 12.1)", () => {
  it("returns a whsec_ secret, stable across versions, that verifies delivered requests", async () => {
    const provider = unique("sign");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const id = unique("b");
    const v1 = await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook) });
    expect(v1.status).toBe(201);

    const first = await api("GET", `/v1/bindings/${id}/signing-secret`);
    expect(first.status).toBe(200);
    expect(first.body.id).toBe(id);
    const secret: string = first.body.signing_secret;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

    // A new version keeps the secret, so receivers need no reconfiguration.
    const v2 = await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook), timeout_ms: "20s" });
    expect(v2.status).toBe(201);
    expect((await api("GET", `/v1/bindings/${id}/signing-secret`)).body.signing_secret).toBe(secret);

    // Other bindings get their own secret.
    const otherId = unique("b");
    await api("PUT", `/v1/bindings/${otherId}`, { provider: unique("p"), handler: handler.url(hook) });
    expect((await api("GET", `/v1/bindings/${otherId}/signing-secret`)).body.signing_secret).not.toBe(secret);

    const published = await api("POST", "/v1/events", { provider, kind: "doc.signed", payload: { n: 1 } });
    expect(published.status).toBe(202);
    const eventId = published.body.event_id;
    const done = await waitForDispatch(`${id}@v2`, eventId, ["succeeded", "failed", "dlq"]);
    expect(done.status).toBe("succeeded");

    const calls = await handler.calls(hook);
    expect(calls).toHaveLength(1);
    const { body, headers } = calls[0];
    expect(headers["webhook-id"]).toBe(`${id}@v2/${eventId}`);
    const verified = new Webhook(secret).verify(body, headers) as { binding_key: string; event: { id: string } };
    expect(verified.binding_key).toBe(`${id}@v2`);
    expect(verified.event.id).toBe(eventId);

    // A tampered body or another binding's secret fails verification.
    expect(() => new Webhook(secret).verify(body.replace("doc.signed", "doc.forged"), headers)).toThrow();
    const otherSecret = (await api("GET", `/v1/bindings/${otherId}/signing-secret`)).body.signing_secret;
    expect(() => new Webhook(otherSecret).verify(body, headers)).toThrow();

    // The secret is never part of the binding views.
    const view = JSON.stringify((await api("GET", `/v1/bindings/${id}`)).body);
    expect(view).not.toContain(secret.slice(6));
    expect(JSON.stringify((await api("GET", "/v1/bindings?limit=500")).body)).not.toContain(secret.slice(6));
  });

  it("keeps the secret after DELETE and re-creation", async () => {
    const id = unique("b");
    await api("PUT", `/v1/bindings/${id}`, { provider: "github", handler: "https://x.example/in" });
    const secret = (await api("GET", `/v1/bindings/${id}/signing-secret`)).body.signing_secret;
    expect((await api("DELETE", `/v1/bindings/${id}`)).status).toBe(204);
    expect((await api("GET", `/v1/bindings/${id}/signing-secret`)).body.signing_secret).toBe(secret);
    await api("PUT", `/v1/bindings/${id}`, { provider: "github", handler: "https://x.example/in" });
    expect((await api("GET", `/v1/bindings/${id}/signing-secret`)).body.signing_secret).toBe(secret);
  });

  it("answers 404 for an unknown binding and 400 for an invalid id", async () => {
    expect((await api("GET", `/v1/bindings/${unique("none")}/signing-secret`)).status).toBe(404);
    expect((await api("GET", "/v1/bindings/-bad/signing-secret")).status).toBe(400);
  });

  it("rotation signs with both secrets for the overlap, so receivers verifying with either keep working", async () => {
    const provider = unique("rot");
    const hook = unique("h");
    await handler.script(hook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    const id = unique("b");
    expect((await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook) })).status).toBe(201);
    const old = (await api("GET", `/v1/bindings/${id}/signing-secret`)).body.signing_secret as string;
    // A gate exists before the rotation: it must learn the new secret too.
    const deliver = async () => {
      const published = await api("POST", "/v1/events", { provider, kind: "doc.signed", payload: { n: 1 } });
      expect(published.status).toBe(202);
      await waitForDispatch(`${id}@v1`, published.body.event_id, ["succeeded"]);
      const calls = await handler.calls(hook);
      return calls[calls.length - 1] as { body: string; headers: Record<string, string> };
    };
    await deliver();

    const rotated = await api("POST", `/v1/bindings/${id}/signing-secret:rotate`, { overlap: "2s" });
    expect(rotated.status, JSON.stringify(rotated.body)).toBe(200);
    const fresh = rotated.body.signing_secret as string;
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(old);
    expect(Date.parse(rotated.body.previous_valid_until)).toBeGreaterThan(Date.now());
    expect((await api("GET", `/v1/bindings/${id}/signing-secret`)).body).toMatchObject({
      signing_secret: fresh,
      previous_valid_until: rotated.body.previous_valid_until,
    });

    const during = await deliver();
    expect(during.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(new Webhook(fresh).verify(during.body, during.headers)).toMatchObject({ binding_key: `${id}@v1` });
    expect(new Webhook(old).verify(during.body, during.headers)).toMatchObject({ binding_key: `${id}@v1` });

    // After the overlap only the new secret signs.
    await new Promise((r) => setTimeout(r, 2_100));
    const after = await deliver();
    expect(after.headers["webhook-signature"]?.split(" ")).toHaveLength(1);
    expect(new Webhook(fresh).verify(after.body, after.headers)).toMatchObject({ binding_key: `${id}@v1` });
    expect(() => new Webhook(old).verify(after.body, after.headers)).toThrow();
    expect((await api("GET", `/v1/bindings/${id}/signing-secret`)).body.previous_valid_until).toBeNull();

    // A new version created later signs with the current secret.
    expect(
      (await api("PUT", `/v1/bindings/${id}`, { provider, handler: handler.url(hook), timeout_ms: "20s" })).status,
    ).toBe(201);
    const published = await api("POST", "/v1/events", { provider, kind: "doc.signed", payload: { n: 2 } });
    await waitForDispatch(`${id}@v2`, published.body.event_id, ["succeeded"]);
    const calls = await handler.calls(hook);
    const last = calls[calls.length - 1] as { body: string; headers: Record<string, string> };
    expect(new Webhook(fresh).verify(last.body, last.headers)).toMatchObject({ binding_key: `${id}@v2` });
  });

  it("rotation: overlap 0 stops the old secret at once; bad input and unknown bindings are refused", async () => {
    const id = unique("b");
    await api("PUT", `/v1/bindings/${id}`, { provider: "github", handler: "https://x.example/in" });
    const now = await api("POST", `/v1/bindings/${id}/signing-secret:rotate`, { overlap: 0 });
    expect(now.status).toBe(200);
    expect(now.body.previous_valid_until).toBeNull();
    expect((await api("POST", `/v1/bindings/${id}/signing-secret:rotate`)).body.previous_valid_until).not.toBeNull();
    const bad = await api("POST", `/v1/bindings/${id}/signing-secret:rotate`, { overlap: "30d" });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("overlap");
    expect((await api("POST", `/v1/bindings/${id}/signing-secret:rotate`, { other: 1 })).status).toBe(400);
    expect((await api("POST", `/v1/bindings/${unique("none")}/signing-secret:rotate`)).status).toBe(404);
  });
});
