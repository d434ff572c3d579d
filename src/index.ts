/** Composition root: HTTP, queue consumers by queue name, the cron sweep, and the DO classes. */
import { consumeDispatch } from "./dispatch/dispatch-consumer";
import { consumeInbox } from "./dispatch/inbox-consumer";
import { sweep } from "./dispatch/sweep";
import { createApp } from "./http/app";
import { systemClock } from "./lib/time";
import { withBillableOps } from "./observability/billable-ops";

const app = createApp();

export default withBillableOps({
  fetch: app.fetch,
  async queue(batch, env, _ctx) {
    if (batch.queue.startsWith("switchyard-inbox")) return consumeInbox(batch, env, systemClock);
    if (batch.queue.startsWith("switchyard-dispatch")) return consumeDispatch(batch, env, systemClock);
    throw new Error(`no consumer for queue ${batch.queue}`);
  },
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweep(env, Date.now()).then((r) => console.log(JSON.stringify({ msg: "sweep", ...r }))));
  },
} satisfies ExportedHandler<Env>);

export { Destination } from "./circuit/destination";
export { BindingGate } from "./flow/binding-gate";
export { IntakeLimiter } from "./intake/intake-limiter";
export { TrustLedger } from "./trust/trust-ledger";
