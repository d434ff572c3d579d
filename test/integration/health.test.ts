import { exports } from "cloudflare:workers";
import { expect, inject, it } from "vitest";

it("answers /healthz", async () => {
  const res = await exports.default.fetch("http://switchyard.test/healthz");
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ ok: true, d1: "ok", secrets_key: "ok" });
});

it("reaches the loopback handler server", async () => {
  const url = inject("handlerUrl");
  await fetch(`${url}/__script/smoke`, {
    method: "PUT",
    body: JSON.stringify({ responses: [{ status: 201, body: { hi: 1 } }] }),
  });
  const res = await fetch(`${url}/h/smoke`, { method: "POST", body: "{}" });
  expect(res.status).toBe(201);
});
