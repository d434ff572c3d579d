/** Composition root: HTTP, the cron sweep, and the Durable Object classes. */
import { sweep } from "./dispatch/sweep";
import { createApp } from "./http/app";
import { withBillableOps } from "./observability/billable-ops";

const app = createApp();

export default withBillableOps({
  fetch: app.fetch,
  async scheduled(_controller, env, ctx) {
    ctx.waitUntil(sweep(env, Date.now()).then((r) => console.log(JSON.stringify({ msg: "sweep", ...r }))));
  },
} satisfies ExportedHandler<Env>);

export { Destination } from "./circuit/destination";
export { BindingGate } from "./gate/binding-gate";
export { DispatchHistory } from "./history/dispatch-history";
export { EventLog } from "./history/event-log";
export { IntakeLimiter } from "./intake/intake-limiter";
export { TrustLedger } from "./trust/trust-ledger";
