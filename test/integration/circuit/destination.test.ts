/**
 * The Destination Durable Object through its RPC stub: a circuit shared across bindings, one probe
 * under concurrent checks, state across eviction, and parked dispatches handed back in order.
 */
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Destination } from "../../../src/circuit/destination";
import { type ParkedRow, releaseToGate } from "../../../src/circuit/parked-queue";
import { eventually } from "../../support/api";

let counter = 0;
/** A fresh destination key per test (storage is shared between the tests of a file). */
function destination(): { key: string; stub: DurableObjectStub<Destination> } {
  const key = `https:https://circuit-${++counter}.example.test/hook`;
  return { key, stub: env.DESTINATION.getByName(key) };
}

const A = "orders@v1";
const B = "audit@v3";
const settings = (threshold: number, cooldown_ms: number) => ({ threshold, cooldown_ms });
const ref = (binding_key: string, event: string, attempt = 1) => ({
  binding_key,
  dispatch_id: `${binding_key}|${event}`,
  attempt,
});

/** Replaces the instance's release function with a recorder (lives as long as the instance). */
async function recordReleases(stub: DurableObjectStub<Destination>, fail = false): Promise<string[]> {
  const calls: string[] = [];
  await runInDurableObject(stub, (instance: Destination) => {
    instance.releaser = async (_env, row: ParkedRow) => {
      calls.push(`${row.dispatch_id}#${row.attempt}`);
      if (fail) throw new Error("gate unavailable");
    };
  });
  return calls;
}

async function trip(stub: DurableObjectStub<Destination>, threshold: number, cooldown_ms: number, now?: number) {
  let last: Awaited<ReturnType<Destination["report"]>> | undefined;
  for (let i = 0; i < threshold; i++) {
    last = await stub.report({
      ...ref(i % 2 === 0 ? A : B, `trip-${i}`),
      outcome: "retryable_failure",
      error: "HTTP 503",
      settings: settings(threshold, cooldown_ms),
      now,
    });
  }
  return last;
}

describe("Destination circuit", () => {
  it("opens at the threshold counting failures reported by different bindings", async () => {
    const { key, stub } = destination();
    const s = settings(3, 60_000);
    const fail = (binding: string, event: string) =>
      stub.report({ ...ref(binding, event), outcome: "retryable_failure", error: "HTTP 502", settings: s });
    expect(await fail(A, "e1")).toMatchObject({ opened: false, state: "closed", failures: 1 });
    expect(await fail(B, "e2")).toMatchObject({ opened: false, state: "closed", failures: 2 });
    expect(await fail(A, "e3")).toEqual({
      destination: key,
      opened: true,
      probe: false,
      state: "open",
      failures: 3,
      error: `destination circuit opened for ${key} after 3 consecutive failures: HTTP 502`,
    });
    const refused = await stub.check({ ...ref(B, "e4"), settings: s });
    expect(refused).toEqual({
      destination: key,
      allow: false,
      state: "open",
      retry_after_s: 60,
      error: `destination circuit open for ${key}; retry after 60s`,
    });
    expect(await stub.state()).toMatchObject({ destination: key, state: "open", failures: 3 });
    const { items } = await stub.transitions();
    expect(items).toEqual([
      expect.objectContaining({ from: "closed", to: "open", reason: "threshold", failures: 3, binding_key: A }),
    ]);
    expect(items[0]?.error).toContain("after 3 consecutive failures");
  });

  it("a success from any binding resets the shared count; neutral outcomes do not", async () => {
    const { stub } = destination();
    const s = settings(2, 60_000);
    await stub.report({ ...ref(A, "e1"), outcome: "retryable_failure", error: "x", settings: s });
    await stub.report({ ...ref(B, "e2"), outcome: "neutral", settings: s });
    expect(await stub.state()).toMatchObject({ state: "closed", failures: 1 });
    await stub.report({ ...ref(B, "e3"), outcome: "success", settings: s });
    expect(await stub.state()).toMatchObject({ state: "closed", failures: 0 });
    expect(await stub.check({ ...ref(A, "e4"), settings: s })).toMatchObject({ allow: true, probe: false });
  });

  it("admits exactly one probe among concurrent checks once half-open", async () => {
    const { stub } = destination();
    const t0 = Date.now();
    await trip(stub, 2, 1_000, t0);
    const after = t0 + 1_000;
    const answers = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        stub.check({ ...ref(i % 2 ? A : B, `c${i}`), settings: settings(2, 1_000), now: after }),
      ),
    );
    const probes = answers.filter((a) => a.allow && a.probe);
    expect(probes).toHaveLength(1);
    expect(answers.filter((a) => !a.allow)).toHaveLength(9);
    expect(answers.filter((a) => !a.allow).every((a) => a.state === "half_open")).toBe(true);
    // A redelivered check of the probe's own attempt gets the probe back, nobody else does.
    const winner = answers.findIndex((a) => a.allow);
    const winnerRef = ref(winner % 2 ? A : B, `c${winner}`);
    expect(await stub.check({ ...winnerRef, settings: settings(2, 1_000), now: after + 5 })).toMatchObject({
      allow: true,
      probe: true,
    });
    // The probe's success closes the circuit for everyone.
    expect(
      await stub.report({ ...winnerRef, outcome: "success", settings: settings(2, 1_000), now: after + 10 }),
    ).toMatchObject({ opened: false, probe: true, state: "closed", failures: 0 });
    expect(await stub.check({ ...ref(A, "late"), settings: settings(2, 1_000), now: after + 11 })).toMatchObject({
      allow: true,
      probe: false,
    });
    const stats = await stub.stats({ now: after + 12 });
    expect(stats.transitions_total).toEqual([
      { from: "closed", to: "open", count: 1 },
      { from: "half_open", to: "closed", count: 1 },
      { from: "open", to: "half_open", count: 1 },
    ]);
  });

  it("a failed probe re-opens for a full cooldown; a probe that never reports is replaced after its lease", async () => {
    const { key, stub } = destination();
    const t0 = Date.now();
    const s = settings(2, 1_000);
    await trip(stub, 2, 1_000, t0);
    const p1 = ref(A, "p1");
    expect(await stub.check({ ...p1, settings: s, attempt_timeout_ms: 0, now: t0 + 1_000 })).toMatchObject({
      probe: true,
    });
    expect(
      await stub.report({ ...p1, outcome: "retryable_failure", error: "timed out", settings: s, now: t0 + 1_500 }),
    ).toEqual({
      destination: key,
      opened: true,
      probe: true,
      state: "open",
      failures: 3,
      error: `destination circuit opened for ${key} after 3 consecutive failures: timed out`,
    });
    expect(await stub.state({ now: t0 + 1_600 })).toMatchObject({
      state: "open",
      next_probe_at: new Date(t0 + 2_500).toISOString(),
    });
    // Next probe never reports: with a 0 ms attempt timeout its lease is the 30 s grace.
    const dead = ref(B, "dead");
    expect(await stub.check({ ...dead, settings: s, attempt_timeout_ms: 0, now: t0 + 2_500 })).toMatchObject({
      probe: true,
    });
    expect(await stub.check({ ...ref(A, "next"), settings: s, now: t0 + 32_499 })).toMatchObject({
      allow: false,
      state: "half_open",
      retry_after_s: 1,
    });
    expect(await stub.check({ ...ref(A, "next"), settings: s, now: t0 + 32_500 })).toMatchObject({
      allow: true,
      probe: true,
    });
  });

  it("abandon gives the probe slot back to the next attempt", async () => {
    const { stub } = destination();
    const t0 = Date.now();
    const s = settings(1, 1_000);
    await trip(stub, 1, 1_000, t0);
    const p = ref(A, "p");
    await stub.check({ ...p, settings: s, now: t0 + 1_000 });
    expect(await stub.abandon({ dispatch_id: ref(B, "x").dispatch_id, attempt: 1, now: t0 + 1_001 })).toEqual({
      released: false,
    });
    expect(await stub.abandon({ dispatch_id: p.dispatch_id, attempt: 1, now: t0 + 1_001 })).toEqual({ released: true });
    expect(await stub.check({ ...ref(B, "q"), settings: s, now: t0 + 1_002 })).toMatchObject({ probe: true });
  });

  it("keeps its state across eviction", async () => {
    const { key, stub } = destination();
    const t0 = Date.now();
    await trip(stub, 2, 60_000, t0);
    const before = await stub.state({ now: t0 + 1 });
    await evictDurableObject(stub);
    const again = env.DESTINATION.getByName(key);
    expect(await again.state({ now: t0 + 1 })).toEqual(before);
    expect(before).toEqual({
      destination: key,
      state: "open",
      failures: 2,
      opened_at: new Date(t0).toISOString(),
      next_probe_at: new Date(t0 + 60_000).toISOString(),
    });
    expect(await again.check({ ...ref(A, "after-evict"), settings: settings(2, 60_000), now: t0 + 2 })).toMatchObject({
      allow: false,
      state: "open",
    });
  });
});

describe("Destination parking (mode hold)", () => {
  it("does not park while closed: the caller runs the attempt now", async () => {
    const { stub } = destination();
    expect(await stub.park(ref(A, "e1"))).toEqual({ parked: false, state: "closed" });
    expect((await stub.parked()).items).toEqual([]);
  });

  it("releases the oldest parked dispatch as the probe, then the rest in arrival order after its success", async () => {
    const { stub } = destination();
    const released = await recordReleases(stub);
    await trip(stub, 2, 300);
    const a1 = ref(A, "a1");
    const b1 = ref(B, "b1");
    const a2 = ref(A, "a2", 3);
    expect(await stub.park(a1)).toMatchObject({ parked: true, state: "open", position: 1 });
    expect(await stub.park(b1)).toMatchObject({ parked: true, position: 2 });
    expect(await stub.park(a2)).toMatchObject({ parked: true, position: 3 });
    // Parking the same dispatch again keeps its place in line.
    expect(await stub.park(a1)).toMatchObject({ parked: true, position: 1 });
    expect((await stub.parked()).items.map((i) => `${i.dispatch_id}#${i.attempt}`)).toEqual([
      `${a1.dispatch_id}#1`,
      `${b1.dispatch_id}#1`,
      `${a2.dispatch_id}#3`,
    ]);

    // After the cooldown the alarm hands back only the head, as the probe.
    await eventually(async () => (released.length > 0 ? true : undefined));
    expect(released).toEqual([`${a1.dispatch_id}#1`]);
    const stats = await stub.stats();
    expect(stats).toMatchObject({ parked: 2, item: { state: "half_open" }, probe: { ref: `${a1.dispatch_id}#1` } });
    // Its attempt then checks in and is the probe; everyone else is still refused.
    expect(await stub.check({ ...a1, settings: settings(2, 300) })).toMatchObject({ allow: true, probe: true });
    expect(await stub.check({ ...ref(B, "new"), settings: settings(2, 300) })).toMatchObject({ allow: false });

    // The probe succeeds: the rest go back oldest first and the table empties.
    expect(await stub.report({ ...a1, outcome: "success", settings: settings(2, 300) })).toMatchObject({
      probe: true,
      state: "closed",
    });
    await eventually(async () => (released.length === 3 ? true : undefined));
    expect(released).toEqual([`${a1.dispatch_id}#1`, `${b1.dispatch_id}#1`, `${a2.dispatch_id}#3`]);
    expect((await stub.parked()).items).toEqual([]);
    await runInDurableObject(stub, async (_instance, state) => {
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });

  it("a failed probe keeps the rest parked; the next head probes after the next cooldown", async () => {
    const { stub } = destination();
    const released = await recordReleases(stub);
    await trip(stub, 1, 200);
    const first = ref(A, "first");
    const second = ref(B, "second");
    await stub.park(first);
    await stub.park(second);
    await eventually(async () => (released.length === 1 ? true : undefined));
    await stub.check({ ...first, settings: settings(1, 200) });
    expect(
      await stub.report({ ...first, outcome: "retryable_failure", error: "HTTP 500", settings: settings(1, 200) }),
    ).toMatchObject({ opened: true, probe: true, state: "open" });
    await eventually(async () => (released.length === 2 ? true : undefined));
    expect(released).toEqual([`${first.dispatch_id}#1`, `${second.dispatch_id}#1`]);
    expect((await stub.stats()).probe?.ref).toBe(`${second.dispatch_id}#1`);
  });

  it("a release that fails keeps the row, backs off and gives the probe slot back", async () => {
    const { stub } = destination();
    const released = await recordReleases(stub, true);
    await trip(stub, 1, 100);
    const p = ref(A, "unlucky");
    await stub.park(p);
    await eventually(async () => (released.length > 0 ? true : undefined));
    await runInDurableObject(stub, (_instance, state) => {
      const row = state.storage.sql.exec<ParkedRow>("SELECT * FROM held").one();
      expect(row).toMatchObject({ dispatch_id: p.dispatch_id, release_failures: 1 });
      expect(row.release_after).toBeGreaterThan(Date.now());
    });
    expect((await stub.stats()).probe).toBeNull();
    expect(await stub.unpark({ dispatch_id: p.dispatch_id })).toEqual({ removed: true });
    expect((await stub.parked()).items).toEqual([]);
  });
});

describe("releaseToGate", () => {
  it("calls releaseParked(dispatch_id, attempt) on the gate named by the parked row's binding key", async () => {
    const calls: unknown[] = [];
    const fakeEnv = {
      BINDING_GATE: {
        getByName: (name: string) => ({
          releaseParked: async (dispatchId: string, attempt: number) => {
            calls.push({ name, dispatchId, attempt });
            return { status: "admitted" };
          },
        }),
      },
    } as unknown as Env;
    const row: ParkedRow = {
      seq: 1,
      binding_key: A,
      dispatch_id: `${A}|evt_1`,
      attempt: 2,
      parked_at: 0,
      lease_ms: 60_000,
      version: 1,
      release_after: 0,
      release_failures: 0,
    };
    await expect(releaseToGate(fakeEnv, row)).resolves.toEqual({ status: "admitted" });
    expect(calls).toEqual([{ name: A, dispatchId: `${A}|evt_1`, attempt: 2 }]);
  });
});
