#!/usr/bin/env node
// `npm start`: local Switchyard on 127.0.0.1 with embedded D1, Queues and Durable Objects.
// Creates .dev.vars from .dev.vars.example when missing, applies D1 migrations, then runs wrangler dev
// with the persona stand-in (workers/persona-standin) alongside.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { appendFileSync, copyFileSync, existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
const port = process.env.PORT ?? "8787";
const persist = process.env.SWITCHYARD_STATE_DIR ?? join(root, ".wrangler", "state");

if (!existsSync(join(root, ".dev.vars"))) {
  copyFileSync(join(root, ".dev.vars.example"), join(root, ".dev.vars"));
  console.log("created .dev.vars from .dev.vars.example");
}
// Secrets are stored sealed under SECRETS_KEY (SPEC 16): a local run gets a random key of its own.
const devVars = readFileSync(join(root, ".dev.vars"), "utf8");
if (!process.env.SECRETS_KEY && !/^\s*SECRETS_KEY\s*=\s*\S/m.test(devVars)) {
  const line = `SECRETS_KEY=${randomBytes(32).toString("base64")}\n`;
  appendFileSync(join(root, ".dev.vars"), `${devVars.endsWith("\n") || devVars === "" ? "" : "\n"}${line}`);
  console.log("generated a random SECRETS_KEY into .dev.vars (keep it: secrets stored locally are sealed with it)");
}

function run(args) {
  return new Promise((resolve, reject) => {
    const child = spawn("wrangler", args, { cwd: root, env, stdio: "inherit" });
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`wrangler ${args[0]} exited with ${code}`))));
    child.on("error", reject);
  });
}

await run(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist]);
// One wrangler dev runs Switchyard (the first config, served on PORT) and the persona stand-in that its
// PERSONA service binding reaches (persona:// handlers).
const configs = ["-c", "wrangler.jsonc", "-c", "workers/persona-standin/wrangler.jsonc"];
const dev = spawn(
  "wrangler",
  [
    "dev",
    ...configs,
    "--ip",
    "127.0.0.1",
    "--port",
    port,
    "--persist-to",
    persist,
    "--show-interactive-dev-session=false",
  ],
  { cwd: root, env, stdio: "inherit" },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
