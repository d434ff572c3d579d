/** Shared set-up for dispatch tests: a binding to a scripted handler and a published event. */
import { expect } from "vitest";
import { api, handler, unique } from "./api";

export async function bindingTo(handlerUri: string, extra: Record<string, unknown> = {}) {
  const id = unique("b");
  const provider = unique("p")
    .replace(/[^a-z0-9-]/g, "")
    .slice(0, 40);
  const res = await api("PUT", `/v1/bindings/${id}`, { provider, handler: handlerUri, ...extra });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { id, provider, bindingKey: res.body.binding_key as string };
}

export async function publish(provider: string, kind = "thing.happened", payload: unknown = { n: 1 }) {
  const res = await api("POST", "/v1/events", { provider, kind, payload });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  return res.body as { event_id: string; trace_id: string };
}

/** A scripted handler plus a binding to it. */
export async function scriptedBinding(
  script: { responses: unknown[]; otherwise?: unknown },
  extra: Record<string, unknown> = {},
) {
  const hook = unique("h");
  await handler.script(hook, script);
  const binding = await bindingTo(handler.url(hook), extra);
  return { ...binding, hook };
}
