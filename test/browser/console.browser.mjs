// The console in a real browser (Debian's chromium, headless, driven by playwright-core) against a
// real `npm start`: login, live events, event detail, action graph, DLQ replay and bulk replay,
// bindings pause/resume, circuits, approvals, logout, with a screenshot of each main page. Run with
// `npm run test:browser`; `npm run docs:screenshots` runs the same and saves them to docs/screenshots/.
import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack } from "../support/local-stack.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
// Screenshots go to test-results/ (ignored by git); `npm run docs:screenshots` refreshes docs/screenshots/.
const shots = resolve(root, process.env.CONSOLE_SCREENSHOTS ?? join("test-results", "screenshots"));
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let stack;
let browser;
let page;
const problems = [];

const v1 = (method, path, body) => stack.api(method, path, body);

async function script(name, answer) {
  const res = await fetch(`${stack.handlerUrl}/__script/${name}`, {
    method: "PUT",
    body: JSON.stringify({ responses: [], otherwise: answer }),
  });
  expect(res.status).toBe(204);
}

const succeed = { status: 200, body: { handled: true } };
const fail = { status: 500, body: { error: "database unavailable" } };

async function publish(kind, payload) {
  const res = await v1("POST", "/v1/events", { provider: "shop", kind, payload });
  expect(res.status).toBe(202);
  return res.body;
}

async function until(check, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function dlqEntries(state) {
  const res = await v1("GET", `/v1/dlq?binding_id=shop-fulfilment&state=${state}`);
  return res.body.items;
}

async function screenshot(name) {
  await page.screenshot({ path: join(shots, `${name}.png`) });
}

/** The next dialog (a `data-confirm` question) is accepted. */
function acceptNextDialog() {
  page.once("dialog", (dialog) => dialog.accept());
}

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  stack = await startStack();
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1 });
  page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  // Documents may answer 4xx on purpose (a wrong login); anything else failing is a problem.
  page.on("console", (msg) => {
    if (msg.type() === "error" && !msg.text().startsWith("Failed to load resource")) {
      problems.push(`console error: ${msg.text()}`);
    }
  });
  page.on("response", (res) => {
    if (res.status() >= 400 && res.request().resourceType() !== "document") {
      problems.push(`${res.request().resourceType()} ${res.url()} answered ${res.status()}`);
    }
  });
  await script("console-ok", succeed);
  await script("console-down", fail);
  // The first call fails once, so the first order shows a retry chain in its graph.
  const res = await fetch(`${stack.handlerUrl}/__script/console-flaky`, {
    method: "PUT",
    body: JSON.stringify({ responses: [{ status: 503, body: { error: "warming up" } }], otherwise: succeed }),
  });
  expect(res.status).toBe(204);
  for (const [id, spec] of [
    ["shop-orders", { events: ["order.created"], handler: `${stack.handlerUrl}/h/console-ok` }],
    [
      "shop-audit",
      {
        events: ["order.created"],
        handler: `${stack.handlerUrl}/h/console-flaky`,
        retry: { max_attempts: 3, policy: { linear: { delay_ms: "300ms" } } },
      },
    ],
    [
      "shop-fulfilment",
      { events: ["order.paid"], handler: `${stack.handlerUrl}/h/console-down`, retry: { max_attempts: 1 } },
    ],
  ]) {
    const res = await v1("PUT", `/v1/bindings/${id}`, { provider: "shop", ...spec });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
  }
}, 240_000);

afterAll(async () => {
  await browser?.close();
  stack?.stop();
});

describe("console in a browser", () => {
  let created;

  it("logs in with the admin token (a wrong token is refused)", async () => {
    await page.goto(`${stack.base}/`);
    expect(new URL(page.url()).pathname).toBe("/console/login");
    await page.fill('input[name="token"]', "not-the-token");
    await page.click('button[type="submit"]');
    await page.getByText("That token is not the admin token.").waitFor();
    await page.fill('input[name="token"]', stack.token);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/console\/events$/);
    await page.getByRole("heading", { name: "Events" }).waitFor();
  });

  it("lists a new event live, without a reload, with its succeeded dispatch", async () => {
    created = await publish("order.created", { order: { id: 1042, total: "59.00", currency: "EUR" } });
    const row = page.locator(`tr[data-event-id="${created.event_id}"]`);
    await row.waitFor({ timeout: 15_000 });
    await row.getByText("shop-orders@v1").waitFor({ timeout: 15_000 });
    await row.locator(".badge", { hasText: "succeeded" }).first().waitFor({ timeout: 15_000 });
    await publish("order.created", { order: { id: 1043, total: "12.50", currency: "EUR" } });
    await page.locator("tr[data-event-id]").nth(1).waitFor({ timeout: 15_000 });
    await expect(page.locator("#live-status")).not.toBeNull();
    await screenshot("events");
  });

  it("event detail shows the payload, the succeeded dispatch with its attempt, and the timeline", async () => {
    await page.click(`a[href="/console/events/${created.event_id}"]`);
    await page.waitForURL(new RegExp(`/console/events/${created.event_id}$`));
    await page.locator('[data-dispatch="shop-orders@v1"][data-status="succeeded"]').waitFor({ timeout: 15_000 });
    expect(await page.locator("pre").first().textContent()).toContain('"currency": "EUR"');
    expect(await page.locator('[data-dispatch="shop-orders@v1"] tbody tr').count()).toBe(1);
    // The audit binding failed once (503) and succeeded on its second attempt.
    const audit = page.locator('[data-dispatch="shop-audit@v1"][data-status="succeeded"]');
    await audit.waitFor({ timeout: 15_000 });
    expect(await audit.locator("tbody tr").count()).toBe(2);
    await page.locator('tr[data-kind="DispatchStarted"]').first().waitFor();
    await screenshot("event-detail");
  });

  it("the action graph is an SVG with the trigger and dispatch nodes", async () => {
    await page.click("text=Action graph");
    await page.waitForURL(/\/console\/traces\//);
    const trigger = page.locator(`svg [data-node-id="trigger:${created.event_id}"]`);
    const dispatch = page.locator(`svg [data-node-id="dispatch:shop-orders@v1:${created.event_id}:1"]`);
    await trigger.waitFor();
    await dispatch.waitFor();
    expect(await dispatch.getAttribute("data-status")).toBe("succeeded");
    const audit = (n) => `shop-audit@v1:${created.event_id}:${n}`;
    await page.locator(`svg [data-node-id="dispatch:${audit(2)}"][data-status="succeeded"]`).waitFor();
    expect(await page.locator(`svg [data-node-id="dispatch:${audit(1)}"]`).getAttribute("data-status")).toBe("failed");
    await page.locator(`svg [data-node-id="retry:${audit(2)}"]`).waitFor();
    expect(await page.locator("svg path.edge").count()).toBeGreaterThanOrEqual(1);
    await screenshot("graph");
  });

  it("a dispatch whose handler fails with max_attempts 1 lands in the DLQ; replay after recovery resolves it", async () => {
    const failed = await publish("order.paid", { order: { id: 1042 }, amount: "59.00" });
    const [entry] = await until(async () => {
      const items = await dlqEntries("pending");
      return items.length === 1 ? items : null;
    }, "the DLQ entry");
    expect(entry.event_id).toBe(failed.event_id);
    await page.click('nav a[href="/console/dlq"]');
    const row = page.locator(`tr[data-dlq-id="${entry.id}"]`);
    await row.waitFor();
    expect(await row.getAttribute("data-state")).toBe("pending");
    await screenshot("dlq");

    await script("console-down", succeed);
    acceptNextDialog();
    await row.getByRole("button", { name: "Replay" }).click();
    await page.getByText(`Replay of ${entry.id} started`).waitFor();
    // The live region picks up the resolved state.
    await page.locator(`tr[data-dlq-id="${entry.id}"][data-state="resolved"]`).waitFor({ timeout: 20_000 });
  });

  it("bulk replay: dry run shows count and ids, confirm shows progress, then the entries resolve", async () => {
    await script("console-down", fail);
    await publish("order.paid", { order: { id: 2001 } });
    await publish("order.paid", { order: { id: 2002 } });
    const pending = await until(async () => {
      const items = await dlqEntries("pending");
      return items.length === 2 ? items : null;
    }, "two pending DLQ entries");

    await page.goto(`${stack.base}/console/dlq`);
    await page.fill('input[name="binding_id"]', "shop-fulfilment");
    await page.click('form.filters button[type="submit"]');
    await page.waitForURL(/binding_id=shop-fulfilment/);
    await page.click("text=Bulk replay…");
    await page.waitForURL(/\/console\/dlq\/bulk\?binding_id=shop-fulfilment/);
    expect(await page.locator("[data-bulk-count]").getAttribute("data-bulk-count")).toBe("2");
    const ids = await page.locator("#bulk-ids li").allTextContents();
    expect(ids.sort()).toEqual(pending.map((e) => e.id).sort());
    await screenshot("dlq-bulk");

    await script("console-down", succeed);
    // Hold the POST briefly so the progress indicator is observable.
    await page.route("**/console/dlq/bulk", async (route) => {
      if (route.request().method() === "POST") await new Promise((r) => setTimeout(r, 800));
      await route.continue();
    });
    // What the page shows right after the confirmed submit, while the POST is still running.
    const progress = page.evaluate(
      () =>
        new Promise((resolve) => {
          document.addEventListener("submit", () =>
            setTimeout(() => {
              const box = document.getElementById("busy");
              const buttons = [...document.querySelectorAll("form[data-busy] button")];
              resolve({
                visible: box.hidden === false,
                text: box.textContent,
                disabled: buttons.every((b) => b.disabled),
              });
            }, 50),
          );
        }),
    );
    acceptNextDialog();
    await page.getByRole("button", { name: "Replay 2 entries" }).click();
    expect(await progress).toEqual({ visible: true, text: "Replaying 2 entries…", disabled: true });
    await page.getByText("Replayed 2 DLQ entries").waitFor({ timeout: 15_000 });
    await page.unroute("**/console/dlq/bulk");
    for (const e of pending) {
      await page.locator(`tr[data-dlq-id="${e.id}"][data-state="resolved"]`).waitFor({ timeout: 20_000 });
    }
  });

  it("bindings: versions, live gate state, pause and resume", async () => {
    await page.click('nav a[href="/console/bindings"]');
    const card = page.locator('[data-binding-id="shop-orders"]');
    await card.waitFor();
    expect(await card.getAttribute("data-paused")).toBe("false");
    acceptNextDialog();
    await card.getByRole("button", { name: "Pause" }).click();
    await page.getByText("shop-orders paused").waitFor();
    await page.locator('[data-binding-id="shop-orders"][data-paused="true"]').waitFor();
    expect((await v1("GET", "/v1/bindings/shop-orders")).body.paused).toBe(true);
    await page
      .locator('[data-binding-key="shop-fulfilment@v1"]')
      .getByText(/in flight/)
      .waitFor();
    await screenshot("bindings");
    acceptNextDialog();
    await page.locator('[data-binding-id="shop-orders"]').getByRole("button", { name: "Resume" }).click();
    await page.locator('[data-binding-id="shop-orders"][data-paused="false"]').waitFor();
  });

  it("circuits: one closed breaker per destination", async () => {
    await page.click('nav a[href="/console/circuits"]');
    await page.locator("tr[data-destination]").first().waitFor();
    expect(await page.locator('tr[data-state="closed"]').count()).toBeGreaterThanOrEqual(1);
    await screenshot("circuits");
  });

  it("approvals: a dispatch over its autonomy budget waits for approval; approving it runs the handler", async () => {
    const api = await v1("GET", "/v1/approvals?state=pending");
    if (api.status === 404) {
      // A deployment without the approvals API: the page says so instead of failing.
      await page.click('nav a[href="/console/approvals"]');
      await page.getByText("Approvals are not available on this deployment yet").waitFor();
      await screenshot("approvals");
      return;
    }
    expect(api.status).toBe(200);
    await script("console-approve", succeed);
    const put = await v1("PUT", "/v1/bindings/shop-refunds", {
      provider: "shop",
      events: ["refund.requested"],
      handler: `${stack.handlerUrl}/h/console-approve`,
      autonomy: { tier: "act_auto", max_decisions_per_hour: 0 },
    });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const refund = await publish("refund.requested", { order: { id: 1042 }, amount: "59.00" });
    const approval = await until(async () => {
      const res = await v1("GET", "/v1/approvals?state=pending");
      return res.body.items.find((a) => a.event_id === refund.event_id);
    }, "the approval request");
    await page.click('nav a[href="/console/approvals"]');
    const row = page.locator(`tr[data-approval-id="${approval.id}"]`);
    await row.waitFor();
    await screenshot("approvals");
    await row.locator('input[name="reason"]').fill("refund checked");
    await row.getByRole("button", { name: "Approve" }).click();
    await page.getByText(`${approval.id} approved.`).waitFor();
    await until(async () => {
      const res = await v1("GET", `/v1/dispatches/shop-refunds%40v1/${refund.event_id}`);
      return res.body?.status === "succeeded";
    }, "the approved dispatch to succeed");
  });

  it("logs out; the console then asks for a login again", async () => {
    await page.getByRole("button", { name: "Log out" }).click();
    await page.waitForURL(/\/console\/login$/);
    await page.getByText("Logged out.").waitFor();
    await page.goto(`${stack.base}/console/events`);
    expect(new URL(page.url()).pathname).toBe("/console/login");
  });

  it("no script errors or CSP violations in the browser", () => {
    expect(problems).toEqual([]);
  });
});
