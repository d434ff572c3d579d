/** Machine-wide CPU use from /proc/stat (Linux), to let the machine settle between runs. */
import { readdirSync, readFileSync } from "node:fs";
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

const TICK_MS = 10; // Linux USER_HZ is 100 on every mainstream platform

/** CPU time (user + system, ms) of a process and all its live descendants; null off Linux. */
export function treeCpuMs(rootPid: number): number | null {
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return null;
  }
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const e of entries) {
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      // Fields after the parenthesised command name: state ppid … utime(14) stime(15).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      parent.set(Number(e), Number(fields[1]));
      cpu.set(Number(e), (Number(fields[11]) + Number(fields[12])) * TICK_MS);
    } catch {
      // The process exited meanwhile.
    }
  }
  const inTree = (pid: number): boolean => {
    for (let p: number | undefined = pid, hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === rootPid) return true;
      p = parent.get(p);
    }
    return false;
  };
  let total = 0;
  for (const [pid, ms] of cpu) if (inTree(pid)) total += ms;
  return total;
}

/** CPU used by a process tree while `work` runs, minus its idle rate (sampled for `idleMs` first). */
export async function cpuDuring<T>(
  rootPid: number | undefined,
  work: () => Promise<T>,
  idleMs = 2000,
): Promise<{ result: T; cpuMs: number | null }> {
  if (rootPid === undefined) return { result: await work(), cpuMs: null };
  const i0 = treeCpuMs(rootPid);
  await new Promise((r) => setTimeout(r, idleMs));
  const i1 = treeCpuMs(rootPid);
  const t0 = performance.now();
  const c0 = treeCpuMs(rootPid);
  const result = await work();
  const c1 = treeCpuMs(rootPid);
  const elapsed = performance.now() - t0;
  if (i0 === null || i1 === null || c0 === null || c1 === null) return { result, cpuMs: null };
  const idlePerMs = Math.max(0, i1 - i0) / idleMs;
  return { result, cpuMs: Math.max(0, c1 - c0 - idlePerMs * elapsed) };
}
