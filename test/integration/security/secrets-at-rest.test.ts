/**
 * SPEC 16 (edition 2) secrets at rest: source and signing secrets are stored only as AES-GCM
 * ciphertext under SECRETS_KEY, in D1 and in the gates' copies; without the key the routes that need
 * one answer 503 and /healthz says so; plaintext from before encryption and values sealed under
 * SECRETS_KEY_PREVIOUS keep working and are sealed again by `POST /v1/admin/secrets:reseal`.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { sign } from "@octokit/webhooks-methods";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it } from "vitest";
import { clearSourceCache } from "../../../src/intake/source-cache";
import { api, handler, unique, waitForDispatch } from "../../support/api";
import { postHook } from "../intake/support";

const TEST_KEY = env.SECRETS_KEY;
const NEXT_KEY = "bmV4dC1zZWNyZXRzLWtleS0zMi1ieXRlcy1sb25nISE=";
const vars = env as unknown as { SECRETS_KEY?: string; SECRETS_KEY_PREVIOUS?: string };

afterEach(() => {
  vars.SECRETS_KEY = TEST_KEY;
  delete vars.SECRETS_KEY_PREVIOUS;
  clearSourceCache();
});

async function githubDelivery(source: string, secret: string) {
  const body = JSON.stringify({ action: "opened", issue: { number: 1, id: crypto.randomUUID() } });
  return postHook(source, body, {
    "content-type": "application/json",
    "x-github-event": "issues",
    "x-github-delivery": crypto.randomUUID(),
    "x-hub-signature-256": await sign(secret, body),
  });
}

async function gateMeta(bindingKey: string, key: string): Promise<string | null> {
  return runInDurableObject(env.BINDING_GATE.getByName(bindingKey), (_o, state) => {
    const row = state.storage.sql.exec<{ v: string }>("SELECT v FROM gate_meta WHERE k = ?", key).toArray()[0];
    return row?.v ?? null;
  });
}

async function boundSource() {
  const secret = `gh-${unique("secret")}`;
  const name = unique("sealed");
  expect(
    (await api("PUT", `/v1/sources/${name}`, { provider: name, verify: { style: "github", secret } })).status,
  ).toBe(201);
  const hook = unique("h");
  await handler.script(hook, { responses: [], otherwise: { status: 200 } });
  const id = unique("b");
  const binding = await api("PUT", `/v1/bindings/${id}`, { provider: name, handler: handler.url(hook) });
  expect(binding.status).toBe(201);
  const signing = (await api("GET", `/v1/bindings/${id}/signing-secret`)).body.signing_secret as string;
  return { secret, name, hook, id, bindingKey: binding.body.binding_key as string, signing };
}

describe("secrets at rest", () => {
  it("stores only ciphertext in D1 and in the gate, and still verifies and signs", async () => {
    const b = await boundSource();
    const accepted = await githubDelivery(b.name, b.secret);
    expect(accepted.status).toBe(202);
    await waitForDispatch(b.bindingKey, accepted.body.event_id, ["succeeded"]);
    const [call] = await handler.calls(b.hook);
    expect(new Webhook(b.signing).verify(call.body, call.headers)).toBeTruthy();

    const source = await env.DB.prepare("SELECT secrets FROM sources WHERE name = ?")
      .bind(b.name)
      .first<{ secrets: string }>();
    expect(source?.secrets).not.toContain(b.secret);
    expect(JSON.parse(source?.secrets ?? "[]")).toEqual([expect.stringMatching(/^sy1:/)]);
    const control = await env.DB.prepare("SELECT signing_secret FROM binding_controls WHERE id = ?")
      .bind(b.id)
      .first<{ signing_secret: string }>();
    expect(control?.signing_secret).toMatch(/^sy1:/);
    expect(control?.signing_secret).not.toContain(b.signing.slice(6, 20));
    const copy = await gateMeta(b.bindingKey, "signing_secret");
    expect(copy).toMatch(/^sy1:/);
    expect(copy).not.toContain(b.signing.slice(6, 20));
  });

  it("without SECRETS_KEY, routes that need a secret answer 503 saying how to set it, and /healthz reports it", async () => {
    const b = await boundSource();
    delete vars.SECRETS_KEY;
    clearSourceCache();
    const put = await api("PUT", `/v1/sources/${unique("nokey")}`, { verify: { style: "github", secret: "x" } });
    expect(put.status).toBe(503);
    expect(put.body.error.message).toMatch(/SECRETS_KEY is not set: `npm start` generates one/);
    expect((await api("GET", `/v1/bindings/${b.id}/signing-secret`)).status).toBe(503);
    expect((await githubDelivery(b.name, b.secret)).status).toBe(503);
    expect(
      (await api("PUT", `/v1/bindings/${unique("b")}`, { provider: "x", handler: "https://x.example/h" })).status,
    ).toBe(503);
    // A source that holds no secret needs no key.
    expect((await api("PUT", `/v1/sources/${unique("open")}`, { verify: { style: "none" } })).status).toBe(201);
    const health = await api("GET", "/healthz");
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      ok: false,
      d1: "ok",
      secrets_key: expect.stringMatching(/^SECRETS_KEY is not set/),
    });
    vars.SECRETS_KEY = "too-short";
    expect((await api("GET", "/healthz")).body.secrets_key).toMatch(/32 random bytes/);
  });

  it("plaintext rows from before still work and are sealed by the reseal command, gates included", async () => {
    const b = await boundSource();
    const delivered = await githubDelivery(b.name, b.secret);
    await waitForDispatch(b.bindingKey, delivered.body.event_id, ["succeeded"]);
    // An earlier version wrote these as plaintext.
    await env.DB.prepare("UPDATE sources SET secrets = ? WHERE name = ?")
      .bind(JSON.stringify([b.secret]), b.name)
      .run();
    await env.DB.prepare("UPDATE binding_controls SET signing_secret = ? WHERE id = ?").bind(b.signing, b.id).run();
    await runInDurableObject(env.BINDING_GATE.getByName(b.bindingKey), (_o, state) => {
      state.storage.sql.exec("UPDATE gate_meta SET v = ? WHERE k = 'signing_secret'", b.signing);
    });
    await evictDurableObject(env.BINDING_GATE.getByName(b.bindingKey));
    clearSourceCache();
    const legacy = await githubDelivery(b.name, b.secret);
    expect(legacy.status, JSON.stringify(legacy.body)).toBe(202);
    expect((await api("GET", `/v1/bindings/${b.id}/signing-secret`)).body.signing_secret).toBe(b.signing);

    const resealed = await api("POST", "/v1/admin/secrets:reseal");
    expect(resealed.status, JSON.stringify(resealed.body)).toBe(200);
    expect(resealed.body.resealed).toMatchObject({ sources: expect.any(Number), bindings: expect.any(Number) });
    expect(resealed.body.resealed.sources).toBeGreaterThanOrEqual(1);
    const source = await env.DB.prepare("SELECT secrets FROM sources WHERE name = ?")
      .bind(b.name)
      .first<{ secrets: string }>();
    expect(source?.secrets).not.toContain(b.secret);
    expect(await gateMeta(b.bindingKey, "signing_secret")).toMatch(/^sy1:/);
    clearSourceCache();
    expect((await githubDelivery(b.name, b.secret)).status).toBe(202);
    // Running it again changes nothing.
    const again = (await api("POST", "/v1/admin/secrets:reseal")).body.resealed;
    expect(again).toMatchObject({ sources: 0, bindings: 0 });
  });

  it("a key rotation needs no downtime: the previous key reads while the reseal re-encrypts", async () => {
    const b = await boundSource();
    vars.SECRETS_KEY = NEXT_KEY;
    vars.SECRETS_KEY_PREVIOUS = TEST_KEY;
    clearSourceCache();
    const during = await githubDelivery(b.name, b.secret);
    expect(during.status).toBe(202);
    await waitForDispatch(b.bindingKey, during.body.event_id, ["succeeded"]);
    expect((await api("GET", `/v1/bindings/${b.id}/signing-secret`)).body.signing_secret).toBe(b.signing);
    expect((await api("POST", "/v1/admin/secrets:reseal")).status).toBe(200);

    // The previous key can go now.
    delete vars.SECRETS_KEY_PREVIOUS;
    clearSourceCache();
    const after = await githubDelivery(b.name, b.secret);
    expect(after.status).toBe(202);
    await waitForDispatch(b.bindingKey, after.body.event_id, ["succeeded"]);
    expect((await api("GET", `/v1/bindings/${b.id}/signing-secret`)).body.signing_secret).toBe(b.signing);
    const calls = await handler.calls(b.hook);
    const last = calls[calls.length - 1];
    expect(new Webhook(b.signing).verify(last.body, last.headers)).toBeTruthy();
  });
});
