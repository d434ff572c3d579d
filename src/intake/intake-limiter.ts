/**
 * Intake backpressure (SPEC 4.5). Exact buckets live in one IntakeLimiter Durable Object; each
 * isolate leases small chunks of tokens from it and spends them locally, so the common path makes
 * one DO call per chunk instead of one per request. Leased tokens expire after LEASE_MS, which
 * bounds how far a burst can overshoot the configured rate.
 */
import { DurableObject } from "cloudflare:workers";
import { AppError } from "../lib/errors";
import { countDurableObjectOps } from "../observability/counting-bindings";
import { type Bucket, type BucketConfig, refill, retryAfterSeconds, takeFrom } from "./token-bucket";

const CHUNK = 16;
const LEASE_MS = 1_000;

interface LimiterConfig {
  global: BucketConfig;
  source: BucketConfig;
  tenant: BucketConfig;
}

function configFrom(env: Env): LimiterConfig {
  const num = (value: string | undefined, fallback: number) => {
    const n = Number(value);
    return Number.isFinite(n) && n > 0 ? n : fallback;
  };
  const refillPerSec = num(env.INTAKE_REFILL_PER_SEC, 1024);
  return {
    global: { capacity: num(env.INTAKE_GLOBAL_CAPACITY, 4096), refillPerSec },
    source: { capacity: num(env.INTAKE_SOURCE_CAPACITY, 1024), refillPerSec },
    tenant: { capacity: num(env.INTAKE_TENANT_CAPACITY, 2048), refillPerSec },
  };
}

/** The three intake buckets (SPEC 4.5). */
export type IntakeBucket = "global" | "source" | "tenant";

export interface LimiterGrant {
  granted: number;
  retry_after_s: number;
  /** The bucket that held the grant back (the emptiest), with its configuration. */
  limit: { bucket: IntakeBucket; capacity: number; refill_per_s: number };
}

export class IntakeLimiter extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    countDurableObjectOps(this, "IntakeLimiter");
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, updated_at INTEGER NOT NULL)",
    );
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS refusals (bucket TEXT PRIMARY KEY, n INTEGER NOT NULL)");
  }

  private load(key: string, config: BucketConfig, now: number): Bucket {
    const row = this.ctx.storage.sql
      .exec<{ tokens: number; updated_at: number }>("SELECT tokens, updated_at FROM buckets WHERE key = ?", key)
      .toArray()[0];
    return refill(row ? { tokens: row.tokens, updatedAt: row.updated_at } : null, config, now);
  }

  private save(key: string, bucket: Bucket): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO buckets (key, tokens, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET tokens = excluded.tokens, updated_at = excluded.updated_at",
      key,
      bucket.tokens,
      bucket.updatedAt,
    );
  }

  /**
   * Grants up to `want` tokens from the global, the source and (for a tenant's events) the tenant
   * bucket together, so one tenant cannot use up every other tenant's intake.
   */
  async acquire(source: string, want: number, tenant: string | null = null): Promise<LimiterGrant> {
    const config = configFrom(this.env);
    const now = Date.now();
    const keyed: [IntakeBucket, string, BucketConfig][] = [
      ["global", "_global", config.global],
      ["source", `source:${source}`, config.source],
      ...(tenant === null
        ? []
        : ([["tenant", `tenant:${tenant}`, config.tenant]] as [IntakeBucket, string, BucketConfig][])),
    ];
    const before = keyed.map(([, key, cfg]) => this.load(key, cfg, now));
    const taken = takeFrom(before, want);
    keyed.forEach(([, key], i) => {
      const bucket = taken.buckets[i];
      if (bucket) this.save(key, bucket);
    });
    const retries = keyed.map(([, , cfg], i) => retryAfterSeconds(taken.buckets[i] as Bucket, cfg));
    // The bucket that held the grant back: the emptiest one (the one that refills last).
    const emptiest = before.reduce((low, b, i) => (b.tokens < (before[low]?.tokens ?? Infinity) ? i : low), 0);
    const [bucket, , cfg] = keyed[emptiest] as [IntakeBucket, string, BucketConfig];
    if (taken.granted === 0) {
      this.ctx.storage.sql.exec(
        "INSERT INTO refusals (bucket, n) VALUES (?, 1) ON CONFLICT(bucket) DO UPDATE SET n = n + 1",
        bucket,
      );
    }
    return {
      granted: taken.granted,
      retry_after_s: Math.max(...retries),
      limit: { bucket, capacity: cfg.capacity, refill_per_s: cfg.refillPerSec },
    };
  }

  /** Requests refused so far, by the bucket that was empty (cumulative, for `/metrics`). */
  async refusals(): Promise<{ bucket: IntakeBucket; n: number }[]> {
    return this.ctx.storage.sql.exec<{ bucket: IntakeBucket; n: number }>("SELECT bucket, n FROM refusals").toArray();
  }

  /** Operator/test hook: set a bucket's level. */
  async setTokens(key: string, tokens: number): Promise<void> {
    this.save(key, { tokens, updatedAt: Date.now() });
  }
}

const leases = new Map<string, { tokens: number; expiresAt: number }>();
/**
 * One limiter call in flight per key: concurrent requests wait for its tokens instead of each asking.
 * The marker is plain data (when the call gives up), never a shared promise: a request awaiting a
 * promise another request's I/O settles would continue outside its own I/O context, and Workers then
 * refuse it its own request body ("Cannot perform I/O on behalf of a different request").
 */
const leasing = new Map<string, number>();
/** How long waiters wait for another request's limiter call before asking themselves. */
const LEASING_WAIT_MS = 1_000;
const LEASING_POLL_MS = 2;

/** Drops this isolate's leased tokens (tests use it to observe the DO buckets directly). */
export function clearIntakeLeases(): void {
  leases.clear();
  leasing.clear();
}

/** When another request of this isolate is leasing tokens for `key`, the time it gives up; else null. */
function leaserUntil(key: string): number | null {
  const until = leasing.get(key);
  return until !== undefined && until > Date.now() ? until : null;
}

/** Waits until that request's limiter call ended (it clears its marker) or gave up. */
async function waitForLeaser(key: string, until: number): Promise<void> {
  while (leasing.get(key) === until && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, LEASING_POLL_MS));
  }
}

/** Takes one token from this isolate's lease of `key`, if it holds one. */
function spendLeased(key: string, now: number): boolean {
  const lease = leases.get(key);
  if (!lease || lease.expiresAt <= now || lease.tokens <= 0) return false;
  lease.tokens -= 1;
  return true;
}

/** Spends one intake token for `source` (and `tenant`) or throws 503 with Retry-After. */
export async function takeIntakeToken(env: Env, source: string, tenant: string | null = null): Promise<void> {
  const leaseKey = tenant === null ? source : `${source}\u0000${tenant}`;
  for (let round = 0; round < 3; round++) {
    if (spendLeased(leaseKey, Date.now())) return;
    // Another request of this isolate is leasing a chunk: share it rather than asking again. (Checked
    // and marked synchronously, so that requests arriving together see each other's marker.)
    const until = leaserUntil(leaseKey);
    if (until !== null) {
      await waitForLeaser(leaseKey, until);
      continue;
    }
    const marker = Date.now() + LEASING_WAIT_MS;
    leasing.set(leaseKey, marker);
    let grant: LimiterGrant;
    try {
      grant = await acquireChunk(env, source, tenant);
    } finally {
      if (leasing.get(leaseKey) === marker) leasing.delete(leaseKey);
    }
    if (grant.granted <= 0) throw overLimit(grant, source, tenant);
    const now = Date.now();
    const lease = leases.get(leaseKey);
    // Granted tokens add to what is left of a live lease instead of replacing it.
    const left = lease && lease.expiresAt > now ? lease.tokens : 0;
    leases.set(leaseKey, { tokens: left + grant.granted - 1, expiresAt: now + LEASE_MS });
    return;
  }
  // The shared chunks ran out before this request got a token.
  const grant = await acquireChunk(env, source, tenant, 1);
  if (grant.granted <= 0) throw overLimit(grant, source, tenant);
}

async function acquireChunk(env: Env, source: string, tenant: string | null, want = CHUNK) {
  try {
    return await env.INTAKE_LIMITER.getByName("global").acquire(source, want, tenant);
  } catch (error) {
    // Without the limiter we cannot tell whether intake is over its rate: ask the sender to retry.
    console.error(JSON.stringify({ msg: "intake limiter unavailable", error: String(error) }));
    throw new AppError(
      "unavailable",
      "intake is temporarily unavailable: its rate limiter could not be reached; retry in 1 s",
      undefined,
      { "retry-after": "1" },
    );
  }
}

/** 503 naming the bucket that is empty, its size and rate, and when to retry (SPEC 4.5). */
function overLimit(grant: LimiterGrant, source: string, tenant: string | null): AppError {
  const { bucket, capacity, refill_per_s } = grant.limit;
  const which =
    bucket === "global" ? "the global intake" : bucket === "source" ? `source '${source}'` : `tenant '${tenant}'`;
  return new AppError(
    "backpressure",
    `${which} is over its rate limit (${capacity} requests, refilled at ${refill_per_s}/s); retry in ${grant.retry_after_s} s`,
    { limit: `intake_${bucket}`, capacity, refill_per_s, retry_after_s: grant.retry_after_s },
    { "retry-after": String(grant.retry_after_s) },
  );
}
