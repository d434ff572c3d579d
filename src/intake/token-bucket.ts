/** Token bucket arithmetic (SPEC 4.5). Pure: state in, state out, time injected. */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

export interface BucketConfig {
  capacity: number;
  refillPerSec: number;
}

export function refill(bucket: Bucket | null, config: BucketConfig, now: number): Bucket {
  if (!bucket) return { tokens: config.capacity, updatedAt: now };
  const elapsed = Math.max(0, now - bucket.updatedAt) / 1000;
  return { tokens: Math.min(config.capacity, bucket.tokens + elapsed * config.refillPerSec), updatedAt: now };
}

/** Whole seconds until `needed` tokens are available again (≥ 1, as Retry-After wants). */
export function retryAfterSeconds(bucket: Bucket, config: BucketConfig, needed = 1): number {
  const missing = Math.max(0, needed - bucket.tokens);
  return Math.max(1, Math.ceil(missing / Math.max(config.refillPerSec, 1e-9)));
}

/** Takes up to `want` whole tokens from every bucket at once; all or nothing per token. */
export function takeFrom(buckets: Bucket[], want: number): { granted: number; buckets: Bucket[] } {
  const available = Math.floor(Math.min(...buckets.map((b) => b.tokens)));
  const granted = Math.max(0, Math.min(want, available));
  return { granted, buckets: buckets.map((b) => ({ ...b, tokens: b.tokens - granted })) };
}
