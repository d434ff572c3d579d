/** Machine-wide CPU use from /proc/stat (Linux), to let the machine settle between runs. */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";

function sample(): { busy: number; total: number } | null {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const fields = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    const total = fields.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** Busy share (0..1) of all cores over `ms`; null where /proc/stat is unavailable. */
export async function cpuBusy(ms: number): Promise<number | null> {
  const a = sample();
  await new Promise((r) => setTimeout(r, ms));
  const b = sample();
  if (!a || !b || b.total === a.total) return null;
  return (b.busy - a.busy) / (b.total - a.total);
}

/**
 * Waits until machine-wide CPU use stays under `threshold` for one 500 ms sample (queued work
 * drained), at most `maxMs`. Returns the last reading.
 */
export async function settle(threshold = 0.2, maxMs = 20_000): Promise<number | null> {
  const deadline = Date.now() + maxMs;
  let busy: number | null = null;
  do {
    busy = await cpuBusy(500);
    if (busy === null || busy < threshold) return busy;
  } while (Date.now() < deadline);
  return busy;
}

export function machine(): { cores: number; model: string; load: number[] } {
  const list = cpus();
  return { cores: list.length, model: list[0]?.model ?? "unknown", load: loadavg() };
}
