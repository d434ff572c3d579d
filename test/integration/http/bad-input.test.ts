/**
 * Regression examples for client input that once broke a route (found by the property tests under
 * test/fuzz): each answers a 4xx error envelope and writes nothing.
 */
import { describe, expect, it } from "vitest";
import { api, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

function expectEnvelope(res: { status: number; body: unknown }, status: number) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toMatchObject({ error: { code: expect.any(String), message: expect.stringMatching(/\S/) } });
}

describe("dispatch addresses with a literal or broken percent sign", () => {
  it.each([
    ["a bare percent sign", "%25@v1"],
    ["a percent sign not followed by hex", "a%25zz@v1"],
  ])("%s in the binding key answers 404, not 500", async (_name, key) => {
    for (const [method, suffix, body] of [
      ["GET", "", undefined],
      ["POST", "/cancel", {}],
      ["POST", "/complete", { status: "succeeded" }],
    ] as const) {
      expectEnvelope(await api(method, `/v1/dispatches/${key}/evt_x${suffix}`, body), 404);
    }
  });

  it("still finds a dispatch addressed with `@` raw or as %40", async () => {
    const binding = await bindingTo("worker://bad-input-jobs");
    const { event_id } = await publish(binding.provider);
    await waitForDispatch(binding.bindingKey, event_id, ["succeeded"]);
    const raw = await api("GET", `/v1/dispatches/${binding.bindingKey}/${event_id}`);
    const encoded = await api("GET", `/v1/dispatches/${binding.bindingKey.replace("@", "%40")}/${event_id}`);
    expect(raw.status).toBe(200);
    expect(encoded.body).toEqual(raw.body);
  });
});
