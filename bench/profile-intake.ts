/**
 * `npx node bench/profile-intake.ts`: where the CPU of `POST /hooks/:source` goes under load.
 * Boots Switchyard with the wrangler commands of scripts/start.mjs (fresh state, its own admin
 * token, the DevTools inspector on a port of its own), creates a GitHub source, sends signed
 * `issues.edited` deliveries (they match no binding: intake and routing, as phase 1 of
 * bench/run.ts; with `--dispatch` a binding sends each to a local handler that answers 200 at once,
 * so the whole dispatch path is profiled too) from closed-loop clients, and meanwhile records
 *
 *   - the CPU of each process of the wrangler tree (the Node proxy, workerd), per accepted request;
 *   - a sampling CPU profile of the Worker's isolate (the routes and the Durable Objects),
 *     summarised as self time per function and inclusive time of chosen functions.
 *
 * The local D1 simulator runs in workerd outside the profiled isolate: its share shows in workerd's
 * process CPU only.
 *
 *   --seconds=6 --warmup-seconds=2 --concurrency=20 --port=8896 --inspector-port=9396 --top=30 --keep --dispatch
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { settle, treeCpuMs } from "./lib/cpu.ts";
import { githubDelivery } from "./lib/github.ts";
import { closedLoop, send, statusCounts } from "./lib/http.ts";
import { run, type Started, start, stop, switchyardDevArgs, waitHealthy, wranglerEnv } from "./lib/processes.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function option(name: string, fallback: number): number {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = flag ? Number(flag.slice(flag.indexOf("=") + 1)) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}
const opts = {
  seconds: option("seconds", 6),
  warmupSeconds: option("warmup-seconds", 2),
  concurrency: option("concurrency", 20),
  port: option("port", 8896),
  inspectorPort: option("inspector-port", 9396),
  top: option("top", 30),
};
const keep = process.argv.includes("--keep");
const dispatch = process.argv.includes("--dispatch");
const BASE = `http://127.0.0.1:${opts.port}`;
const SECRET = "profile-github-secret";

// ---- CPU per process of the tree -----------------------------------------------------------------

/** CPU ms per process name (`node`, `workerd`, …) of the tree under `rootPid`. */
function cpuByName(rootPid: number): Map<string, number> {
  const out = new Map<string, number>();
  const pids = new Set<number>([rootPid]);
  // Breadth-first over /proc/<pid>/task/<pid>/children.
  for (const pid of pids) {
    try {
      const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
      for (const c of children ? children.split(" ") : []) pids.add(Number(c));
      const name = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(name, (out.get(name) ?? 0) + (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

// ---- DevTools protocol ---------------------------------------------------------------------------

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

async function inspector(port: number) {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as Array<{
    title?: string;
    webSocketDebuggerUrl: string;
  }>;
  // With several Workers the titles name them; wrangler's own proxy lists just the first config's Worker.
  const target = targets.find((t) => /switchyard(?!-persona)/.test(t.title ?? "")) ?? targets[0];
  if (!target) throw new Error("the inspector lists no Worker");
  // The inspector proxy refuses connections without a local Origin; undici's WebSocket takes headers.
  const socket = new WebSocket(target.webSocketDebuggerUrl, {
    headers: { origin: `http://127.0.0.1:${port}` },
  } as unknown as string[]);
  await new Promise((resolve, reject) => {
    socket.addEventListener("open", resolve, { once: true });
    socket.addEventListener("error", reject, { once: true });
  });
  let nextId = 1;
  const waiting = new Map<number, (result: unknown) => void>();
  socket.addEventListener("message", (message) => {
    const data = JSON.parse(String(message.data)) as { id?: number; result?: unknown; error?: unknown };
    if (data.id === undefined) return;
    waiting.get(data.id)?.(data.error ? Promise.reject(new Error(JSON.stringify(data.error))) : data.result);
    waiting.delete(data.id);
  });
  const call = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve as (result: unknown) => void);
      socket.send(JSON.stringify({ id, method, params }));
    });
  return { title: target.title ?? "?", call, close: () => socket.close() };
}

/** Self time per function, and inclusive time of every function (by name and place). */
function summarise(profile: Profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const label = (f: CallFrame) => {
    const file = f.url.replace(/^.*\//, "");
    return `${f.functionName || "(anonymous)"} ${file ? `${file}:${f.lineNumber + 1}` : ""}`.trim();
  };
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(id);
    if (!node) return;
    total += us;
    self.set(label(node.callFrame), (self.get(label(node.callFrame)) ?? 0) + us);
    const seen = new Set<string>();
    for (let n: ProfileNode | undefined = node; n; n = byId.get(parentOf.get(n.id) ?? -1)) {
      const l = label(n.callFrame);
      if (seen.has(l)) continue;
      seen.add(l);
      inclusive.set(l, (inclusive.get(l) ?? 0) + us);
    }
  });
  return { self, inclusive, total };
}

// ---- run -----------------------------------------------------------------------------------------

const tmp = mkdtempSync(join(tmpdir(), "switchyard-profile-"));
const token = `profile-${randomUUID()}`;
const envFile = join(tmp, "profile.env");
writeFileSync(
  envFile,
  `ADMIN_TOKEN=${token}\nALLOW_PRIVATE_TARGETS=true\nSECRETS_KEY=${randomBytes(32).toString("base64")}\n`,
);
const state = join(tmp, "state");
const logFile = join(tmp, "switchyard.log");
const env = wranglerEnv({ PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}` });
let switchyard: Started | undefined;
let handler: ReturnType<typeof createServer> | undefined;

try {
  await run("wrangler", ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
    cwd: root,
    env,
    log: logFile,
  });
  switchyard = start(
    "switchyard",
    "wrangler",
    switchyardDevArgs({ port: opts.port, state, envFile, extra: ["--inspector-port", String(opts.inspectorPort)] }),
    { cwd: root, env, log: logFile },
  );
  await waitHealthy(`${BASE}/healthz`, switchyard, 180_000);
  const created = await send({
    method: "PUT",
    url: `${BASE}/v1/sources/profile-gh`,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ provider: "github", verify: { style: "github", secret: SECRET } }),
  });
  if (created.status !== 201) throw new Error(`creating the source failed: ${created.status} ${created.body}`);
  if (dispatch) {
    const handlerPort = opts.port + 1;
    handler = createServer((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    });
    handler.keepAliveTimeout = 120_000;
    await new Promise<void>((resolve) => handler?.listen(handlerPort, "127.0.0.1", resolve));
    const bound = await send({
      method: "PUT",
      url: `${BASE}/v1/bindings/profile-b`,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        provider: "github",
        events: ["issues.edited"],
        handler: `http://127.0.0.1:${handlerPort}/h`,
        allow_cleartext: true,
      }),
    });
    if (bound.status !== 201) throw new Error(`creating the binding failed: ${bound.status} ${bound.body}`);
  }
  const call = (i: number) => githubDelivery(`${BASE}/hooks/profile-gh`, SECRET, i, "edited");
  await closedLoop(opts.concurrency, opts.warmupSeconds * 1000, call);
  await settle();

  const pid = switchyard.child.pid as number;
  const devtools = await inspector(opts.inspectorPort);
  await devtools.call("Profiler.enable");
  await devtools.call("Profiler.setSamplingInterval", { interval: 200 });
  const before = cpuByName(pid);
  const treeBefore = treeCpuMs(pid) ?? 0;
  await devtools.call("Profiler.start");
  const load = await closedLoop(opts.concurrency, opts.seconds * 1000, call);
  await settle(0.2, 8000);
  const { profile } = await devtools.call<{ profile: Profile }>("Profiler.stop");
  const after = cpuByName(pid);
  const treeAfter = treeCpuMs(pid) ?? 0;
  devtools.close();

  const ok = load.replies.filter((r) => r.status === 202).length;
  console.log(
    `# ${dispatch ? "Intake and dispatch" : "Intake"} profile: ${opts.concurrency} clients, ${opts.seconds} s, isolate '${devtools.title}'`,
  );
  console.log(
    `${(ok / (load.elapsedMs / 1000)).toFixed(1)} accepted/s, statuses ${JSON.stringify(statusCounts(load.replies))}`,
  );
  console.log(
    `\nCPU per accepted request (process tree, idle not subtracted): ${((treeAfter - treeBefore) / ok).toFixed(2)} ms`,
  );
  for (const [name, ms] of after) {
    const used = ms - (before.get(name) ?? 0);
    if (used > 0) console.log(`  ${name.padEnd(16)} ${(used / ok).toFixed(2)} ms`);
  }
  const { self, inclusive, total } = summarise(profile);
  const perRequest = (us: number) => `${(us / 1000 / ok).toFixed(3)} ms`;
  console.log(`\nWorker isolate samples: ${perRequest(total)} per request (idle and program included)`);
  console.log(`\nSelf time, top ${opts.top}:`);
  for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, opts.top)) {
    console.log(`  ${perRequest(us).padStart(10)}  ${name}`);
  }
  console.log(`\nInclusive time, top ${opts.top} (functions of src/ and their callers):`);
  for (const [name, us] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, opts.top)) {
    console.log(`  ${perRequest(us).padStart(10)}  ${name}`);
  }
  if (keep) writeFileSync(join(tmp, "intake.cpuprofile"), JSON.stringify(profile));
} finally {
  if (switchyard) await stop(switchyard);
  handler?.close();
  if (keep) console.log(`\nstate, log and profile: ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
