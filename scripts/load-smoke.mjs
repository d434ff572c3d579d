// Load smoke against a running `npm start` (CI runs it from scripts/smoke-start.sh): bursts signed
// GitHub webhooks from concurrent clients at one source, then checks that every request was
// answered 202 (any 5xx fails: cross-request I/O mistakes only show under concurrent load, which the
// test pool cannot produce) and that every accepted event reached the handler (none lost).
//
//   npx node scripts/load-smoke.mjs <switchyard-url> <handler-url> [--events=500] [--clients=50]
//
// The handler is `npm run handler`. Exit status: 0 passed; 1 a 5xx, a lost event, or a timeout.
import { randomUUID } from "node:crypto";
import { sign } from "@octokit/webhooks-methods";

const [sy, handler] = process.argv.slice(2, 4);
if (!sy || !handler) {
  console.error("usage: node scripts/load-smoke.mjs <switchyard-url> <handler-url> [--events=N] [--clients=N]");
  process.exit(1);
}
const option = (name, fallback) => {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? Number(flag.split("=")[1]) : fallback;
};
const EVENTS = option("events", 500);
const CLIENTS = option("clients", 50);
const TOKEN = process.env.TOKEN ?? "dev-admin-token";
const DELIVERY_DEADLINE_MS = 40_000;
const run = randomUUID().slice(0, 8);
const source = `load-${run}`;
const hook = `load-${run}`;
const secret = `load-secret-${run}`;
const auth = { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" };

async function must(method, url, body) {
  const res = await fetch(url, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${url} answered ${res.status}: ${await res.text()}`);
  return res;
}

await must("PUT", `${handler}/__script/${hook}`, { responses: [], otherwise: { status: 200, body: { ok: true } } });
await must("PUT", `${sy}/v1/sources/${source}`, { provider: source, verify: { style: "github", secret } });
await must("PUT", `${sy}/v1/bindings/${source}`, { provider: source, handler: `${handler}/h/${hook}` });

const statuses = new Map();
const failures = [];
let next = 0;
const started = Date.now();
async function client() {
  while (next < EVENTS) {
    const i = next++;
    const body = JSON.stringify({ action: "opened", issue: { number: i, title: `load ${run} #${i}` } });
    try {
      const res = await fetch(`${sy}/hooks/${source}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "issues",
          "x-github-delivery": `${run}-${i}`,
          "x-hub-signature-256": await sign(secret, body),
        },
        body,
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 500) failures.push(`#${i}: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      else await res.arrayBuffer();
    } catch (error) {
      failures.push(`#${i}: ${String(error)}`);
    }
  }
}
await Promise.all(Array.from({ length: CLIENTS }, client));
const sentMs = Date.now() - started;
const summary = [...statuses].map(([status, n]) => `${n} × ${status}`).join(", ");
if (failures.length > 0) {
  console.error(
    `load-smoke: ${failures.length} request(s) failed (${summary}):\n  ${failures.slice(0, 10).join("\n  ")}`,
  );
  process.exit(1);
}
const accepted = statuses.get(202) ?? 0;
if (accepted !== EVENTS) {
  console.error(`load-smoke: expected ${EVENTS} × 202, got ${summary}`);
  process.exit(1);
}

// Every accepted event must reach the handler, once per event.
let delivered = 0;
const deadline = Date.now() + DELIVERY_DEADLINE_MS;
while (Date.now() < deadline) {
  const calls = await (await fetch(`${handler}/__calls/${hook}`)).json();
  delivered = new Set(calls.map((c) => c.headers["x-switchyard-event-id"])).size;
  if (delivered >= EVENTS) break;
  await new Promise((r) => setTimeout(r, 250));
}
if (delivered < EVENTS) {
  console.error(`load-smoke: only ${delivered} of ${EVENTS} accepted events reached the handler`);
  process.exit(1);
}
console.log(
  `load-smoke: ${EVENTS} signed webhooks from ${CLIENTS} clients: ${summary} in ${(sentMs / 1000).toFixed(1)} s, ` +
    `all delivered after ${((Date.now() - started) / 1000).toFixed(1)} s, no 5xx`,
);
