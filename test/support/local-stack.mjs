// Boots a real local Switchyard (`npm start`) and the scriptable handler (`npm run handler`) on spare
// ports with a fresh state directory, like scripts/smoke-start.sh, for the browser tests and the
// crash run of the reliability suite (which kills the whole `npm start` tree and starts it again on
// the same state).
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A TCP port that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `npm run <script>` in its own process group, keeping the tail of its output for errors. */
function run(args, env) {
  const child = spawn("npm", args, {
    cwd: root,
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", ...env },
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines = [];
  const keep = (chunk) => {
    lines.push(...chunk.toString().split("\n"));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  return { child, log: () => lines.join("\n") };
}

async function waitFor(url, what, proc, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) throw new Error(`${what} exited early:\n${proc.log()}`);
    try {
      const res = await fetch(url);
      if (res.status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${what} did not answer ${url} within ${timeoutMs} ms:\n${proc.log()}`);
}

function stopGroup(proc) {
  if (proc.child.exitCode !== null || proc.child.pid === undefined) return;
  try {
    process.kill(-proc.child.pid, "SIGTERM");
  } catch {
    // already gone
  }
}

/**
 * Boots the stack; `stop()` ends both process groups and removes the state it created. `crash()`
 * SIGKILLs the whole `npm start` tree (npm, Node, wrangler, workerd) at once, as a power cut would;
 * `restart()` starts it again on the same port and state and waits until it is healthy.
 */
export async function startStack() {
  const [port, handlerPort] = [await freePort(), await freePort()];
  const state = mkdtempSync(join(tmpdir(), "switchyard-stack-"));
  const hadVars = existsSync(join(root, ".dev.vars"));
  const startServer = () => run(["start"], { PORT: String(port), SWITCHYARD_STATE_DIR: state });
  let server = startServer();
  const handler = run(["run", "handler"], { HANDLER_PORT: String(handlerPort) });
  const stop = () => {
    stopGroup(server);
    stopGroup(handler);
    rmSync(state, { recursive: true, force: true });
    if (!hadVars) rmSync(join(root, ".dev.vars"), { force: true });
  };
  const base = `http://127.0.0.1:${port}`;
  const handlerUrl = `http://127.0.0.1:${handlerPort}`;
  const crash = async () => {
    if (server.child.pid === undefined) return;
    const exited = new Promise((resolve) => server.child.once("exit", resolve));
    try {
      process.kill(-server.child.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await exited;
  };
  const restart = async () => {
    server = startServer();
    await waitFor(`${base}/healthz`, "npm start (restarted)", server, 180_000);
  };
  try {
    await waitFor(`${base}/healthz`, "npm start", server, 180_000);
    await waitFor(`${handlerUrl}/__calls/ping`, "npm run handler", handler, 60_000);
    const vars = readFileSync(join(root, ".dev.vars"), "utf8");
    const token = /^ADMIN_TOKEN=(.*)$/m.exec(vars)?.[1]?.trim();
    if (!token) throw new Error(".dev.vars has no ADMIN_TOKEN");
    /** A `/v1` call with the admin token: `{status, body}` (JSON, or null for an empty body). */
    const api = async (method, path, body) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    };
    return { base, handlerUrl, token, api, stop, crash, restart, serverLog: () => server.log() };
  } catch (error) {
    stop();
    throw error;
  }
}
