import { describe, expect, it } from "vitest";
import type { JobPriority, JobState } from "../../../src/contracts/worker-jobs";
import {
  claimCutoffs,
  claimRank,
  decideAck,
  decideRelease,
  isClaimable,
  type JobClock,
  jobPriority,
  leaseState,
  orderForClaim,
  PROMOTE_AFTER_MS,
  parsePushBindings,
  queueCounts,
} from "../../../src/handlers/worker-jobs-policy";
import { iso } from "../../../src/lib/time";

const now = Date.parse("2026-11-26T12:00:00.000Z");
const MIN = 60_000;

function job(id: string, priority: JobPriority, ageMs: number, extra: Partial<JobClock> = {}): JobClock {
  return {
    job_id: id,
    priority,
    state: "ready" as JobState,
    created_at: iso(now - ageMs),
    lease_expires_at: null,
    consumer_id: null,
    claims: 0,
    ...extra,
  };
}

describe("jobPriority (SPEC 12.3)", () => {
  it.each<[Record<string, string>, JobPriority, JobPriority]>([
    [{ priority: "high" }, "normal", "high"],
    [{ priority: "low" }, "high", "low"],
    [{ priority: " HIGH " }, "low", "high"],
    [{ priority: "normal" }, "high", "high"],
    [{ priority: "urgent" }, "low", "low"],
    [{ priority: "" }, "normal", "normal"],
    [{}, "low", "low"],
    [{ "x-priority": "high" }, "normal", "normal"],
  ])("headers %j with binding default %s → %s", (headers, fallback, expected) => {
    expect(jobPriority(headers, fallback)).toBe(expected);
  });
});

describe("claimRank and the 15-minute promotion", () => {
  it.each<[JobPriority, number, number]>([
    ["high", 0, 0],
    ["high", 60 * MIN, 0],
    ["normal", 0, 1],
    ["normal", PROMOTE_AFTER_MS - 1, 1],
    ["normal", PROMOTE_AFTER_MS, 0],
    ["normal", 2 * PROMOTE_AFTER_MS, 0],
    ["low", 0, 2],
    ["low", 24 * 60 * MIN, 2],
  ])("%s waiting %i ms ranks %i", (priority, age, rank) => {
    expect(claimRank(job("j", priority, age), now)).toBe(rank);
  });

  it("claimCutoffs puts the promotion boundary exactly 15 minutes back", () => {
    const cut = claimCutoffs(now, 30_000);
    expect(cut).toEqual({
      now: "2026-11-26T12:00:00.000Z",
      promote_before: "2026-11-26T11:45:00.000Z",
      lease_expires_at: "2026-11-26T12:00:30.000Z",
    });
    // The SQL promotes `created_at <= promote_before`; the pure rank agrees at the boundary.
    expect(claimRank({ priority: "normal", created_at: cut.promote_before }, now)).toBe(0);
    expect(claimRank({ priority: "normal", created_at: iso(Date.parse(cut.promote_before) + 1) }, now)).toBe(1);
  });
});

describe("orderForClaim", () => {
  it("orders high → normal → low, oldest first, with old normal jobs counting as high", () => {
    const jobs = [
      job("low-old", "low", 60 * MIN),
      job("normal-new", "normal", 1 * MIN),
      job("high-new", "high", 1 * MIN),
      job("normal-promoted", "normal", 20 * MIN),
      job("high-old", "high", 10 * MIN),
      job("normal-mid", "normal", 5 * MIN),
      job("low-new", "low", 0),
    ];
    expect(orderForClaim(jobs, now).map((j) => j.job_id)).toEqual([
      "normal-promoted",
      "high-old",
      "high-new",
      "normal-mid",
      "normal-new",
      "low-old",
      "low-new",
    ]);
  });

  it("breaks ties in created_at by job id", () => {
    const jobs = [job("job_b", "normal", MIN), job("job_a", "normal", MIN)];
    expect(orderForClaim(jobs, now).map((j) => j.job_id)).toEqual(["job_a", "job_b"]);
  });

  it("skips live leases and acked jobs but includes expired leases", () => {
    const jobs = [
      job("live", "high", 5 * MIN, { state: "leased", lease_expires_at: iso(now + 1), consumer_id: "c" }),
      job("expired", "high", 1 * MIN, { state: "leased", lease_expires_at: iso(now - 1), consumer_id: "c" }),
      job("at-expiry", "low", 1 * MIN, { state: "leased", lease_expires_at: iso(now), consumer_id: "c" }),
      job("acked", "high", 9 * MIN, { state: "acked", consumer_id: "c" }),
      job("ready", "normal", 1 * MIN),
    ];
    expect(orderForClaim(jobs, now).map((j) => j.job_id)).toEqual(["expired", "ready", "at-expiry"]);
  });

  it("is a pure function of now: the same jobs reorder as time passes", () => {
    const jobs = [job("high", "high", 0), job("normal", "normal", 10 * MIN)];
    expect(orderForClaim(jobs, now).map((j) => j.job_id)).toEqual(["high", "normal"]);
    expect(orderForClaim(jobs, now + 5 * MIN).map((j) => j.job_id)).toEqual(["normal", "high"]);
  });
});

describe("leases", () => {
  it.each<[Partial<JobClock>, string, boolean]>([
    [{ state: "ready" }, "ready", true],
    [{ state: "leased", lease_expires_at: iso(now + 1000) }, "leased", false],
    [{ state: "leased", lease_expires_at: iso(now) }, "expired", true],
    [{ state: "leased", lease_expires_at: iso(now - 1000) }, "expired", true],
    [{ state: "leased", lease_expires_at: null }, "expired", true],
    [{ state: "acked" }, "acked", false],
  ])("%j is %s (claimable: %s)", (fields, state, claimable) => {
    const j = job("j", "normal", 0, fields);
    expect(leaseState(j, now)).toBe(state);
    expect(isClaimable(j, now)).toBe(claimable);
  });
});

describe("decideAck / decideRelease", () => {
  const leased = job("job_1", "normal", MIN, {
    state: "leased",
    lease_expires_at: iso(now + 30_000),
    consumer_id: "worker-a",
    claims: 1,
  });

  it("applies to a live lease, by anyone or by its holder", () => {
    expect(decideAck(leased, now, {})).toEqual({ kind: "apply" });
    expect(decideAck(leased, now, { consumer_id: "worker-a", response: { ok: 1 } })).toEqual({ kind: "apply" });
    expect(decideRelease(leased, now, {})).toEqual({ kind: "apply" });
    expect(decideRelease(leased, now, { consumer_id: "worker-a" })).toEqual({ kind: "apply" });
  });

  it.each<[string, JobClock, Record<string, unknown>, RegExp]>([
    ["ready", job("job_1", "normal", MIN), {}, /is not leased: claim it first/],
    [
      "expired",
      { ...leased, lease_expires_at: iso(now - 1) },
      {},
      /lease on job 'job_1' expired at 2026-11-26T11:59:59.999Z/,
    ],
    ["another holder", leased, { consumer_id: "worker-b" }, /leased by another consumer/],
  ])("conflicts when the job is %s", (_name, j, request, message) => {
    for (const decision of [decideAck(j, now, request), decideRelease(j, now, request)]) {
      expect(decision.kind).toBe("conflict");
      expect(decision.kind === "conflict" && decision.message).toMatch(message);
    }
  });

  it("a repeated ack with the same response is unchanged; a different one conflicts", () => {
    const acked = { ...leased, state: "acked" as const, lease_expires_at: null, response: { b: 2, a: 1 } };
    expect(decideAck(acked, now, { response: { a: 1, b: 2 } })).toEqual({ kind: "unchanged" });
    expect(decideAck(acked, now, { response: { a: 1, b: 2 }, consumer_id: "worker-a" })).toEqual({
      kind: "unchanged",
    });
    expect(decideAck(acked, now, { response: { a: 2 } })).toMatchObject({ kind: "conflict" });
    expect(decideAck(acked, now, { response: { a: 1, b: 2 }, consumer_id: "worker-b" })).toMatchObject({
      kind: "conflict",
      message: "job 'job_1' was acked by another consumer",
    });
    const bare = { ...acked, response: null };
    expect(decideAck(bare, now, {})).toEqual({ kind: "unchanged" });
    expect(decideRelease(acked, now, {})).toEqual({ kind: "conflict", message: "job 'job_1' is already acked" });
  });
});

describe("queueCounts", () => {
  it("counts expired leases as ready", () => {
    expect(
      queueCounts([
        { state: "ready", expired: false, n: 3 },
        { state: "leased", expired: false, n: 2 },
        { state: "leased", expired: true, n: 4 },
        { state: "acked", expired: false, n: 7 },
      ]),
    ).toEqual({ ready: 7, leased: 2, acked: 7 });
    expect(queueCounts([])).toEqual({ ready: 0, leased: 0, acked: 0 });
  });
});

describe("parsePushBindings", () => {
  it.each<[string | undefined, ReturnType<typeof parsePushBindings>]>([
    [undefined, { ok: true, value: {} }],
    ["", { ok: true, value: {} }],
    ["{}", { ok: true, value: {} }],
    ['{"pushed-jobs":"ECHO"}', { ok: true, value: { "pushed-jobs": "ECHO" } }],
  ])("%j parses", (raw, expected) => {
    expect(parsePushBindings(raw)).toEqual(expected);
  });

  it.each([
    ["{not json", /not valid JSON/],
    ["[]", /invalid/],
    ['{"q":1}', /invalid/],
    ['{"q":"not a binding"}', /binding name must match/],
    ['{"bad queue":"ECHO"}', /bad queue: Invalid key/],
    ["null", /invalid/],
  ])("%j is reported, never thrown", (raw, message) => {
    const parsed = parsePushBindings(raw);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.error).toMatch(message);
  });
});
