/** Shared helpers for the end-to-end flow-control tests (SPEC 9) through the real pipeline. */
import { evictDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { FlowGateSnapshot } from "../../../src/flow/flow-types";
import { api, eventually, handler, waitForDispatch } from "../../support/api";
import { publish, scriptedBinding } from "../../support/dispatch";

export const TERMINAL = ["succeeded", "skipped", "waiting", "dlq", "failed", "cancelled"];
/** Every status a dispatch can have once the gate has looked at it. */
export const ARRIVED = ["admitted", "running", "retry_scheduled", "held", ...TERMINAL];

export type Script = { responses: unknown[]; otherwise?: unknown };
export type Binding = Awaited<ReturnType<typeof scriptedBinding>>;

/** A binding with `flow_control` to a scripted handler. */
export function flowBinding(flowControl: Record<string, unknown>, script: Script, extra: Record<string, unknown> = {}) {
  return scriptedBinding(script, { flow_control: flowControl, ...extra });
}

export const dispatchPath = (bindingKey: string, eventId: string) =>
  `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`;

/** The gate's id of a (non-replay) dispatch, as listed in lease holders and wait heads. */
export const dispatchIdOf = (bindingKey: string, eventId: string) => `${bindingKey}|${eventId}`;

/**
 * Publishes one event and waits until the gate has decided on it (any status past `pending`), so
 * the next publish arrives at the gate after it. Returns the event id and the status seen.
 */
export async function arrive(b: Binding, payload: unknown = { n: 1 }, statuses = ARRIVED) {
  const { event_id } = await publish(b.provider, "thing.happened", payload);
  const d = await waitForDispatch(b.bindingKey, event_id, statuses);
  return { event_id, status: d.status as string, detail: d };
}

export async function dispatch(bindingKey: string, eventId: string) {
  const res = await api("GET", dispatchPath(bindingKey, eventId));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

export const cancel = (bindingKey: string, eventId: string, body?: unknown) =>
  api("POST", `${dispatchPath(bindingKey, eventId)}/cancel`, body);

/** SPEC 9 audit topic: `trigger.<primitive>.<gate with [^A-Za-z0-9._-] → _>`. */
export const auditTopic = (primitive: string, gate: string) =>
  `trigger.${primitive}.${gate.replace(/[^A-Za-z0-9._-]/g, "_")}`;

type AuditRecord = { topic: string; kind: string; event_id: string; payload: Record<string, unknown> };

/** The audit records of one gate, in `seq` order. */
export async function auditOf(primitive: string, gate: string): Promise<AuditRecord[]> {
  const res = await api("GET", `/v1/records?topic=${encodeURIComponent(auditTopic(primitive, gate))}&limit=500`);
  expect(res.status).toBe(200);
  return res.body.items;
}

/** Waits until the gate's audit log has `count` records (D1 writes land asynchronously). */
export function auditEventually(primitive: string, gate: string, count: number) {
  return eventually(async () => {
    const items = await auditOf(primitive, gate);
    return items.length >= count ? items : undefined;
  });
}

/** The records of an event on one topic. */
export async function recordsOf(eventId: string, topic: string, kind?: string) {
  const q = `topic=${encodeURIComponent(topic)}&event_id=${eventId}${kind ? `&kind=${kind}` : ""}&limit=500`;
  const res = await api("GET", `/v1/records?${q}`);
  return res.body.items as AuditRecord[];
}

export type GateSnapshot = FlowGateSnapshot;

/** This binding's entry of `GET /v1/stats`. */
export async function bindingStats(bindingKey: string) {
  const res = await api("GET", `/v1/stats?binding_key=${encodeURIComponent(bindingKey)}`);
  expect(res.status).toBe(200);
  const entry = res.body.bindings.find((x: { binding_key: string }) => x.binding_key === bindingKey);
  expect(entry, `no stats for ${bindingKey}`).toBeDefined();
  return entry as { in_flight: number; held: number; scheduled_retries: number; gates: GateSnapshot[] };
}

/** One flow-control gate of a binding from `GET /v1/stats` (undefined when the gate holds nothing). */
export async function gateStats(bindingKey: string, primitive: string, gate: string) {
  const entry = await bindingStats(bindingKey);
  return entry.gates.find((g) => g.primitive === primitive && g.gate === gate);
}

/** The handler calls of a hook, each with the envelope's event id and the call time. */
export async function callsOf(hook: string) {
  const calls = await handler.calls(hook);
  return calls.map((c) => {
    const envelope = JSON.parse(c.body);
    return {
      event_id: envelope.event.id as string,
      batch: envelope.event.batch as { id: string; payload: unknown }[] | undefined,
      at: c.at as number,
      aborted: c.aborted as boolean,
      attempt: envelope.attempt as number,
    };
  });
}

/** Waits until the hook has been called `n` times. */
export function callsEventually(hook: string, n: number, timeoutMs = 10_000) {
  return eventually(async () => {
    const calls = await callsOf(hook);
    return calls.length >= n ? calls : undefined;
  }, timeoutMs);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const skippedBy = (reason: string) => ({
  status: "skipped",
  attempt_count: 0,
  result: { skipped: true, flow_control: reason },
  error: null,
});

/** Evicts a binding's gate object (its memory is lost; storage and alarms stay). */
export const evictGate = (bindingKey: string) => evictDurableObject(env.BINDING_GATE.getByName(bindingKey));
