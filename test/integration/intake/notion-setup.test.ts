/**
 * Notion's one-time set-up (SPEC 4.2 handshakes): a Notion source created with no secret awaits
 * Notion's unsigned verification request, whose token becomes its secret and can be read once; after
 * that the source verifies like any other and an unsigned request never replaces the secret.
 */
import { describe, expect, it } from "vitest";
import { api } from "../../support/api";
import { createSource, eventsOfSource, expectError, hmacHex, JSON_CT, postHook, readAccepted } from "./support";

const notionEvent = () =>
  JSON.stringify({ id: crypto.randomUUID(), type: "page.created", timestamp: new Date().toISOString(), entity: {} });
const signed = async (secret: string, body: string) => ({
  ...JSON_CT,
  "x-notion-signature": `sha256=${await hmacHex(secret, body)}`,
});
const readToken = (source: string) => api("POST", `/v1/sources/${source}/verification-token`);

describe("Notion set-up", () => {
  it("a source created with no secret takes the verification request's token as its secret, shown once", async () => {
    const source = await createSource("notion-setup", { verify: { style: "notion" } });
    const created = await api("GET", `/v1/sources/${source}`);
    expect(created.body.verify).toMatchObject({
      style: "notion",
      secret_count: 0,
      verification: { state: "awaiting", received_at: null, read_at: null },
    });
    expect(expectError(await readToken(source), 409, "conflict").message).toMatch(/has not received Notion's/);

    // Anything but the verification request is refused while the source waits.
    const early = await postHook(source, notionEvent(), JSON_CT);
    expect(expectError(early, 401, "signature_invalid").message).toMatch(/awaits Notion's verification request/);

    const token = `secret_${crypto.randomUUID().replaceAll("-", "")}`;
    const handshake = await postHook(source, JSON.stringify({ verification_token: token }), JSON_CT);
    expect(handshake.status).toBe(200);
    expect(handshake.body).toEqual({ ok: true });
    expect(await eventsOfSource(source)).toEqual([]);

    const received = await api("GET", `/v1/sources/${source}`);
    expect(received.body.verify).toMatchObject({ secret_count: 1, verification: { state: "received", read_at: null } });
    expect(JSON.stringify(received.body)).not.toContain(token);

    const first = await readToken(source);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      verification_token: token,
      received_at: received.body.verify.verification.received_at,
    });
    expect(expectError(await readToken(source), 409, "conflict").message).toMatch(/already read .*shown once/);
    expect((await api("GET", `/v1/sources/${source}`)).body.verify.verification.state).toBe("read");

    // Notion now signs with the token.
    const body = notionEvent();
    const event = await readAccepted(await postHook(source, body, await signed(token, body)));
    expect(event).toMatchObject({ provider: "notion", kind: "page.created", signature_status: { state: "verified" } });

    // A second, unsigned verification request never replaces the secret.
    const intruder = await postHook(source, JSON.stringify({ verification_token: "secret_attacker" }), JSON_CT);
    expect(expectError(intruder, 401, "signature_invalid").details).toMatchObject({ reason: "missing_header" });
    const forged = notionEvent();
    expect((await postHook(source, forged, await signed("secret_attacker", forged))).status).toBe(401);
    const genuine = notionEvent();
    expect((await postHook(source, genuine, await signed(token, genuine))).status).toBe(202);

    // Re-applying the configuration without a secret keeps the set-up.
    const again = await api("PUT", `/v1/sources/${source}`, { verify: { style: "notion" } });
    expect(again.status).toBe(200);
    expect(again.body.verify).toMatchObject({ secret_count: 1, verification: { state: "read" } });
    const after = notionEvent();
    expect((await postHook(source, after, await signed(token, after))).status).toBe(202);
  });

  it("a source with a configured secret never takes a verification token", async () => {
    const secret = "secret_configured_by_operator";
    const source = await createSource("notion-configured", { verify: { style: "notion", secret } });
    expect((await api("GET", `/v1/sources/${source}`)).body.verify.verification).toBeUndefined();
    const unsigned = await postHook(source, JSON.stringify({ verification_token: "secret_other" }), JSON_CT);
    expect(expectError(unsigned, 401, "signature_invalid").details).toMatchObject({ reason: "missing_header" });
    expect(expectError(await readToken(source), 409).message).toMatch(/has no verification token/);
    const body = notionEvent();
    expect((await postHook(source, body, await signed(secret, body))).status).toBe(202);
  });

  it("a malformed verification request leaves the source waiting", async () => {
    const source = await createSource("notion-malformed", { verify: { style: "notion" } });
    for (const body of ['{"verification_token": ""}', '{"verification_token": 7}', "[]", "not json"]) {
      expect((await postHook(source, body, JSON_CT)).status).toBe(401);
    }
    expect((await api("GET", `/v1/sources/${source}`)).body.verify.verification.state).toBe("awaiting");
    expect((await api("PUT", `/v1/sources/${source}`, { verify: { style: "github" } })).status).toBe(400);
    expect((await readToken("no-such-source")).status).toBe(404);
  });
});
