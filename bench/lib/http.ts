/**
 * Load generation over keep-alive node:http (lighter than fetch per request): a closed loop of N
 * clients for a fixed time, and an open loop that sends at a fixed rate whatever the answers.
 */
import { Agent, request } from "node:http";
import { dueCount } from "./stats.ts";

const agent = new Agent({ keepAlive: true, maxSockets: 512 });

export interface Call {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface Reply {
  status: number;
  body: string;
  /** Wall clock (ms) when the request was sent and when its answer was complete. */
  sentAt: number;
  doneAt: number;
  /** Request latency in ms (monotonic clock). */
  ms: number;
}

export function send(call: Call): Promise<Reply> {
  const sentAt = Date.now();
  const t0 = performance.now();
  return new Promise((resolve) => {
    const url = new URL(call.url);
    const headers: Record<string, string | number> = { ...(call.headers ?? {}) };
    if (call.body !== undefined) headers["content-length"] = Buffer.byteLength(call.body);
    const req = request(
      { agent, host: url.hostname, port: url.port, path: url.pathname + url.search, method: call.method, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString("utf8"),
            sentAt,
            doneAt: Date.now(),
            ms: performance.now() - t0,
          }),
        );
        res.on("error", (error) =>
          resolve({ status: 0, body: String(error), sentAt, doneAt: Date.now(), ms: performance.now() - t0 }),
        );
      },
    );
    req.on("error", (error) =>
      resolve({ status: 0, body: String(error), sentAt, doneAt: Date.now(), ms: performance.now() - t0 }),
    );
    if (call.body !== undefined) req.write(call.body);
    req.end();
  });
}

export interface LoadResult {
  replies: Reply[];
  elapsedMs: number;
}

/** `concurrency` clients, each sending its next request when the previous one is answered. */
export async function closedLoop(
  concurrency: number,
  durationMs: number,
  next: (i: number) => Call,
): Promise<LoadResult> {
  const replies: Reply[] = [];
  let i = 0;
  const start = performance.now();
  const deadline = start + durationMs;
  const client = async () => {
    while (performance.now() < deadline) replies.push(await send(next(i++)));
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return { replies, elapsedMs: performance.now() - start };
}

/** Sends `ratePerSec × durationMs/1000` requests on schedule (open loop), then waits for all answers. */
export async function openLoop(ratePerSec: number, durationMs: number, next: (i: number) => Call): Promise<LoadResult> {
  const total = Math.max(1, Math.round((ratePerSec * durationMs) / 1000));
  const pending: Promise<Reply>[] = [];
  const start = performance.now();
  while (pending.length < total) {
    const due = dueCount(performance.now() - start, ratePerSec, total);
    while (pending.length < due) pending.push(send(next(pending.length)));
    const nextAt = start + (pending.length * 1000) / ratePerSec;
    await new Promise((r) => setTimeout(r, Math.max(0, nextAt - performance.now())));
  }
  const replies = await Promise.all(pending);
  return { replies, elapsedMs: performance.now() - start };
}

export function statusCounts(replies: readonly Reply[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of replies) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}
