/** Shared set-up for predicate, budget and approval tests (SPEC 7, 8) through the real pipeline. */
import { expect } from "vitest";
import { api, eventually, handler, unique, waitForDispatch } from "../../support/api";
import { bindingTo, publish } from "../../support/dispatch";

export const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];

export type Script = { responses: unknown[]; otherwise?: unknown };

/** A handler that always succeeds and a binding to it with `extra` (e.g. `when`, `budget`, `autonomy`). */
export async function boundHandler(extra: Record<string, unknown>) {
  const hook = unique("h");
  await handler.script(hook, { responses: [], otherwise: { status: 200, body: { handled: true } } });
  const binding = await bindingTo(handler.url(hook), extra);
  return { ...binding, hook };
}

/** A scripted classifier: its URL and a way to count its calls. */
export async function classifier(script: Script) {
  const name = unique("cls");
  await handler.script(name, script);
  return { name, url: handler.url(name), calls: () => handler.calls(name) };
}

export const answer = (body: Record<string, unknown>, delay_ms?: number) => ({
  status: 200,
  body,
  ...(delay_ms ? { delay_ms } : {}),
});

/** Publishes one event and waits for its dispatch on `bindingKey` to reach a terminal status. */
export async function publishAndSettle(
  b: { provider: string; bindingKey: string },
  payload: unknown = { n: 1 },
  kind = "thing.happened",
) {
  const { event_id, trace_id } = await publish(b.provider, kind, payload);
  const detail = await waitForDispatch(b.bindingKey, event_id, TERMINAL);
  return { event_id, trace_id, detail };
}

export async function handlerCalls(hook: string): Promise<string[]> {
  return (await handler.calls(hook)).map((c) => JSON.parse(c.body).event.id as string);
}

type Rec = { seq: number; topic: string; kind: string; payload: Record<string, unknown> };

/** Records of an event (every topic unless one is given), in seq order. */
export async function records(eventId: string, topic?: string, kind?: string): Promise<Rec[]> {
  const q = `event_id=${eventId}${topic ? `&topic=${encodeURIComponent(topic)}` : ""}${kind ? `&kind=${kind}` : ""}&limit=500`;
  const res = await api("GET", `/v1/records?${q}`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** Waits until an event has a record of `kind` (D1 writes land asynchronously). */
export function recordEventually(eventId: string, kind: string, count = 1) {
  return eventually(async () => {
    const found = (await records(eventId)).filter((r) => r.kind === kind);
    return found.length >= count ? found : undefined;
  });
}

export async function graph(traceId: string) {
  const res = await api("GET", `/v1/traces/${traceId}/graph`);
  expect(res.status).toBe(200);
  return res.body as {
    nodes: { id: string; kind: string; status: string | null }[];
    edges: { from: string; to: string; kind: string }[];
  };
}
