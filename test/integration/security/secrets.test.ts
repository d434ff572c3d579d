/**
 * SPEC 16 secrets hygiene: source secrets, the admin token, tenant keys, binding signing secrets and
 * credentials sent to intake never appear in stored rows, records, API answers, outbound requests or logs.
 */

import { env } from "cloudflare:workers";
import { sign } from "@octokit/webhooks-methods";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api, handler, unique, waitForDispatch } from "../../support/api";
import { everyPartitionRow } from "../../support/storage";
import { postHook } from "../intake/support";

const ADMIN_TOKEN = "test-admin-token";
/** Tables and columns whose job is to hold a secret (write-only through the API). */
const SECRET_COLUMNS: Record<string, string[]> = { sources: ["secrets"], binding_controls: ["signing_secret"] };

async function everyStoredRow(): Promise<string> {
  const tables = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations'",
  ).all<{ name: string }>();
  const dumps: string[] = [];
  for (const { name } of tables.results) {
    const rows = await env.DB.prepare(`SELECT * FROM "${name}"`).all<Record<string, unknown>>();
    for (const row of rows.results) {
      for (const column of SECRET_COLUMNS[name] ?? []) delete row[column];
      dumps.push(`${name}: ${JSON.stringify(row)}`);
    }
  }
  // Events and finished dispatches live in their EventLog and History objects (docs/scale.md).
  dumps.push(...(await everyPartitionRow()));
  return dumps.join("\n");
}

afterEach(() => vi.restoreAllMocks());

describe("secrets hygiene", () => {
  it("keeps every secret out of rows, records, answers, outbound requests and logs", async () => {
    const logged: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        logged.push(args.map(String).join(" "));
      });
    }
    const sourceSecret = `src-secret-${crypto.randomUUID()}`;
    const credential = `cred-${crypto.randomUUID()}`;
    const tenant = unique("sec");
    const key = (await api("POST", `/v1/tenants/${tenant}/keys`, { name: "k" })).body.key as string;
    const source = unique("gh").replace(/[^a-z0-9-]/g, "");
    const provider = "github";
    expect(
      (await api("PUT", `/v1/sources/${source}`, { provider, verify: { style: "github", secret: sourceSecret } }))
        .status,
    ).toBe(201);
    const okHook = unique("ok");
    const downHook = unique("down");
    await handler.script(okHook, { responses: [], otherwise: { status: 200, body: { ok: true } } });
    await handler.script(downHook, { responses: [], otherwise: { status: 500, body: { error: "boom" } } });
    const kind = `issues.${unique("k").replace(/[^a-z0-9]/g, "")}`;
    const ok = await api("PUT", `/v1/bindings/${unique("ok")}`, {
      provider,
      events: [kind],
      handler: handler.url(okHook),
    });
    const down = await api("PUT", `/v1/bindings/${unique("down")}`, {
      provider,
      events: [kind],
      handler: handler.url(downHook),
      retry: { max_attempts: 2, policy: { linear: { delay_ms: 10 } } },
    });
    const signingSecrets = await Promise.all(
      [ok.body.id, down.body.id].map(
        async (id) => (await api("GET", `/v1/bindings/${id}/signing-secret`)).body.signing_secret as string,
      ),
    );

    const body = JSON.stringify({ action: kind.split(".")[1], issue: { number: 1 } });
    const accepted = await postHook(source, body, {
      "content-type": "application/json",
      "x-github-event": "issues",
      "x-github-delivery": crypto.randomUUID(),
      "x-hub-signature-256": await sign(sourceSecret, body),
      authorization: `Bearer ${credential}`,
      "x-api-key": credential,
      cookie: `session=${credential}`,
    });
    expect(accepted.status).toBe(202);
    const eventId = accepted.body.event_id as string;
    await waitForDispatch(ok.body.binding_key, eventId, ["succeeded"]);
    await waitForDispatch(down.body.binding_key, eventId, ["dlq"]);
    // A failed request with the admin token in the wrong place is not echoed either.
    await api("GET", "/v1/events", undefined, { authorization: `Bearer ${credential}` });

    const secrets = {
      sourceSecret,
      credential,
      ADMIN_TOKEN,
      key,
      signing0: signingSecrets[0],
      signing1: signingSecrets[1],
    };
    const leaks = (text: string) =>
      Object.entries(secrets)
        .filter(([, s]) => s && text.includes(s as string))
        .map(([n]) => n);

    // Stored rows (outside the columns meant for secrets) and the record log.
    const stored = await everyStoredRow();
    expect(stored).toContain(eventId);
    expect(stored).toContain("[redacted]");
    expect(leaks(stored)).toEqual([]);

    // API answers.
    for (const path of [
      `/v1/sources/${source}`,
      "/v1/sources?limit=500",
      `/v1/events/${eventId}`,
      `/v1/bindings/${ok.body.id}`,
      `/v1/dispatches?event_id=${eventId}`,
      `/v1/records?event_id=${eventId}&limit=500`,
      "/v1/dlq?limit=500",
      `/v1/tenants/${tenant}/keys`,
      "/v1/stats",
    ]) {
      const res = await api("GET", path);
      expect(leaks(JSON.stringify(res.body)), path).toEqual([]);
    }

    // Outbound requests carry only the per-binding signature.
    const calls = [...(await handler.calls(okHook)), ...(await handler.calls(downHook))];
    expect(calls.length).toBeGreaterThanOrEqual(3);
    for (const call of calls) {
      const text = JSON.stringify(call);
      expect(leaks(text)).toEqual([]);
      expect(call.headers["webhook-signature"]).toMatch(/^v1,/);
    }

    // Logs.
    expect(leaks(logged.join("\n"))).toEqual([]);
  });
});
