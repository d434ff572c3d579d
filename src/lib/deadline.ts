/**
 * A deadline as an abort signal whose timer is cleared once the work is done. `AbortSignal.timeout`
 * keeps its timer until it fires, and a Durable Object with a pending timer cannot hibernate or be
 * evicted (and stays billed): a gate that called a handler would stay awake for the whole timeout.
 */
export interface Deadline {
  signal: AbortSignal;
  clear(): void;
}

export function deadline(ms: number): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`timed out after ${ms}ms`, "TimeoutError")),
    Math.max(0, ms),
  );
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
