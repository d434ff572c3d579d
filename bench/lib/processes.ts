/**
 * Child processes of the benchmark (wrangler dev, the demo handler): each runs in its own process
 * group with its output in a log file, and is stopped by that group id (only what we started).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { openSync } from "node:fs";
import { createServer } from "node:net";

export interface Started {
  name: string;
  child: ChildProcess;
  log: string;
  exited: Promise<number | null>;
}

/** Environment for every wrangler call (offline machine: no telemetry, no cf fetch). */
export function wranglerEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", ...extra };
}

export function start(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: string },
): Started {
  const fd = openSync(options.log, "a");
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    stdio: ["ignore", fd, fd],
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => resolve(code));
    child.on("error", () => resolve(-1));
  });
  return { name, child, log: options.log, exited };
}

/** Runs a command to completion (output to the log); rejects on a non-zero exit. */
export async function run(
  command: string,
  args: string[],
  options: { cwd: string; env: NodeJS.ProcessEnv; log: string },
): Promise<void> {
  const started = start(command, command, args, options);
  const code = await started.exited;
  if (code !== 0) throw new Error(`${command} ${args.join(" ")} exited with ${code} (log: ${options.log})`);
}

/** SIGTERM to the process group, SIGKILL after `graceMs`. */
export async function stop(started: Started, graceMs = 5000): Promise<void> {
  const pid = started.child.pid;
  if (pid === undefined || started.child.exitCode !== null || started.child.signalCode !== null) return;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      // Already gone.
    }
  };
  signal("SIGTERM");
  const timer = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), graceMs));
  if ((await Promise.race([started.exited, timer])) === "timeout") signal("SIGKILL");
}

/** Polls `url` until it answers 200, the process exits, or `timeoutMs` passes. */
export async function waitHealthy(url: string, started: Started, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void started.exited.then(() => {
    exited = true;
  });
  while (Date.now() < deadline) {
    if (exited) throw new Error(`${started.name} exited before it was healthy (log: ${started.log})`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${started.name} not healthy at ${url} after ${timeoutMs} ms (log: ${started.log})`);
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** `wrangler dev` arguments that run Switchyard (with the persona stand-in) the way `npm start` does. */
export function switchyardDevArgs(options: {
  port: number;
  state: string;
  envFile: string;
  extra?: string[];
}): string[] {
  return [
    "dev",
    "-c",
    "wrangler.jsonc",
    "-c",
    "workers/persona-standin/wrangler.jsonc",
    "--ip",
    "127.0.0.1",
    "--port",
    String(options.port),
    "--persist-to",
    options.state,
    "--show-interactive-dev-session=false",
    "--env-file",
    options.envFile,
    ...(options.extra ?? []),
  ];
}
