/**
 * Crash safety of a real `npm start` (SPEC 1.1, 6): signed webhooks flow at a steady rate from
 * concurrent clients while the whole `npm start` process tree is SIGKILLed mid-stream and started
 * again on the same state. Then:
 *   - every event a client saw accepted (202) reaches a terminal status: none is lost;
 *   - no handler attempt is delivered twice (one call per event and attempt number);
 *   - clients only ever saw 202, a connection error, or a 5xx: never another answer for an event
 *     that then went missing.
 * Scale: CRASH_EVENTS (default 300) at CRASH_RATE events/s (default 40); the kill comes after a
 * third of them. Run by `npm run test:reliability` (vitest.crash.config.mjs).
 */
import { createHmac, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "../support/local-stack.mjs";

const EVENTS = Number(process.env.CRASH_EVENTS ?? 300);
const RATE = Number(process.env.CRASH_RATE ?? 40);
const TERMINAL = new Set(["succeeded", "skipped", "failed", "dlq", "cancelled", "waiting"]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack?.stop());

const api = (method, path, body) => stack.api(method, path, body);

describe("crash of the whole npm start tree", () => {
  it("loses no accepted event and delivers no attempt twice", async () => {
    const run = randomUUID().slice(0, 8);
    const source = `crash-${run}`;
    const secret = `crash-secret-${run}`;
    const hook = `crash-${run}`;
    // A handler that takes a moment, so attempts are in flight when the process dies.
    await fetch(`${stack.handlerUrl}/__script/${hook}`, {
      method: "PUT",
      body: JSON.stringify({ responses: [], otherwise: { status: 200, delay_ms: 40, body: { ok: true } } }),
    });
    expect(
      (await api("PUT", `/v1/sources/${source}`, { provider: source, verify: { style: "github", secret } })).status,
    ).toBe(201);
    const binding = await api("PUT", `/v1/bindings/${source}`, {
      provider: source,
      handler: `${stack.handlerUrl}/h/${hook}`,
      retry: { max_attempts: 10, policy: { linear: { delay_ms: 500 } } },
    });
    expect(binding.status).toBe(201);
    const bindingKey = binding.body.binding_key;

    const outcomes = [];
    const send = async (i) => {
      const body = JSON.stringify({ action: "opened", issue: { number: i, run } });
      const signature = `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
      try {
        const res = await fetch(`${stack.base}/hooks/${source}`, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            "x-github-event": "issues",
            "x-github-delivery": `${run}-${i}`,
            "x-hub-signature-256": signature,
          },
          body,
          signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        outcomes.push({ i, status: res.status, event_id: res.status === 202 ? JSON.parse(text).event_id : null, text });
      } catch (error) {
        outcomes.push({ i, status: null, error: String(error) });
      }
    };

    // Open-loop sending; the kill happens after a third of the events, the restart right after.
    const inFlight = [];
    const started = Date.now();
    let crashed = null;
    for (let i = 0; i < EVENTS; i++) {
      const due = started + (i * 1000) / RATE;
      if (due > Date.now()) await sleep(due - Date.now());
      if (i === Math.floor(EVENTS / 3)) {
        crashed = (async () => {
          await stack.crash();
          await stack.restart();
        })();
      }
      inFlight.push(send(i));
    }
    await Promise.all(inFlight);
    await crashed;
    // The restarted service takes events again: a last burst after it is healthy.
    const afterRestart = Math.floor(EVENTS / 3);
    const resumed = Date.now();
    const late = [];
    for (let i = EVENTS; i < EVENTS + afterRestart; i++) {
      const due = resumed + ((i - EVENTS) * 1000) / RATE;
      if (due > Date.now()) await sleep(due - Date.now());
      late.push(send(i));
    }
    await Promise.all(late);
    const lateAccepted = outcomes.filter((o) => o.i >= EVENTS && o.status === 202).length;
    expect(lateAccepted, "events accepted after the restart").toBe(afterRestart);

    // Clients saw 202, a connection error or a 5xx; nothing else.
    const accepted = outcomes.filter((o) => o.status === 202);
    const unexpected = outcomes.filter((o) => o.status !== null && o.status !== 202 && o.status < 500);
    expect(unexpected, JSON.stringify(unexpected.slice(0, 5))).toEqual([]);
    expect(accepted.length).toBeGreaterThan(EVENTS / 3);
    expect(
      outcomes.filter((o) => o.status === null).length,
      "requests refused while the process was down",
    ).toBeGreaterThan(0);

    // Every accepted event reaches a terminal status.
    const deadline = Date.now() + 180_000;
    let pending = accepted.map((o) => o.event_id);
    while (pending.length > 0 && Date.now() < deadline) {
      const still = [];
      for (const eventId of pending) {
        const d = await api("GET", `/v1/dispatches/${encodeURIComponent(bindingKey)}/${eventId}`);
        if (d.status !== 200 || !TERMINAL.has(d.body.status)) still.push(eventId);
      }
      pending = still;
      if (pending.length > 0) await sleep(1_000);
    }
    expect(pending, "accepted events with no terminal dispatch").toEqual([]);

    // No handler attempt delivered twice.
    const calls = await (await fetch(`${stack.handlerUrl}/__calls/${hook}`)).json();
    const seen = new Map();
    for (const call of calls) {
      const key = `${call.headers["x-switchyard-event-id"]}#${call.headers["x-switchyard-attempt"]}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const twice = [...seen].filter(([, n]) => n > 1);
    expect(twice, "attempts delivered twice").toEqual([]);
    const delivered = new Set(calls.map((c) => c.headers["x-switchyard-event-id"]));
    for (const o of accepted) expect(delivered.has(o.event_id), `${o.event_id} reached the handler`).toBe(true);
    console.log(
      `[crash] ${EVENTS} + ${afterRestart} events at ${RATE}/s: ${accepted.length} accepted, ` +
        `${outcomes.filter((o) => o.status === null).length} connection errors, ` +
        `${outcomes.filter((o) => (o.status ?? 0) >= 500).length} × 5xx; all accepted terminal, ${calls.length} handler calls, none twice`,
    );
  });
});
