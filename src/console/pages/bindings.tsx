/**
 * Bindings: every id with its versions and state (`GET /v1/bindings`), pause/resume, and the live
 * state of each version's BindingGate (`GET /v1/stats`: in flight, retries, held, flow-control gates).
 */
import type { Hono } from "hono";
import type { FlowGateSnapshot } from "../../flow/flow-types";
import { apiPath } from "../api-client";
import { type ConsoleEnv, redirectWithFlash, render, returnTo } from "../context";
import { Badge, Csrf, Failure, Json, LiveBox, Time } from "../layout";
import { links, v1 } from "../links";
import type { BindingItem, GateStats, ListPage, Stats } from "../views";

function gateText(g: FlowGateSnapshot): string {
  const used = g.active ?? g.window;
  const load = used === null ? "" : g.limit === null ? ` ${used}` : ` ${used}/${g.limit}`;
  const waiting = g.waiting > 0 ? `, ${g.waiting} waiting${g.head ? ` (next ${g.head})` : ""}` : "";
  // An ordering line held behind a failure names it: resolving its DLQ entry lets the line go on.
  const blocked = g.blocked_by ? `, blocked by ${g.blocked_by}` : "";
  return `${g.primitive} ${g.gate}${load}${waiting}${blocked}`;
}

function GateCell(props: { stats: GateStats | undefined }) {
  const s = props.stats;
  if (!s) return <span class="muted small">—</span>;
  return (
    <div class="small">
      <div>{`${s.in_flight} in flight · ${s.scheduled_retries} retrying · ${s.held} held`}</div>
      {s.gates.map((g) => (
        <div class="mono muted">{gateText(g)}</div>
      ))}
    </div>
  );
}

function BindingCard(props: { binding: BindingItem; stats: Map<string, GateStats>; csrf: string }) {
  const b = props.binding;
  const action = b.paused ? "resume" : "pause";
  return (
    <div class="card" data-binding-id={b.id} data-paused={String(b.paused)}>
      <div class="row spread">
        <div class="row">
          <strong class="mono">{b.id}</strong>
          {b.paused ? <Badge status="held" text="paused" /> : <Badge status="succeeded" text="running" />}
          <a class="small" href={`/console/preview?binding=${encodeURIComponent(b.id)}`}>
            Preview
          </a>
        </div>
        <form
          class="inline"
          method="post"
          action={`/console/bindings/${encodeURIComponent(b.id)}/${action}`}
          data-confirm={
            b.paused ? `Resume ${b.id}? Held dispatches continue.` : `Pause ${b.id}? New dispatches are held.`
          }
        >
          <Csrf token={props.csrf} />
          <input type="hidden" name="return_to" value={links.bindings()} />
          <button type="submit" class={b.paused ? "primary" : "danger"}>
            {b.paused ? "Resume" : "Pause"}
          </button>
        </form>
      </div>
      <table>
        <thead>
          <tr>
            <th>Version</th>
            <th>State</th>
            <th>Handler</th>
            <th>Created</th>
            <th>Gate (live)</th>
            <th>Spec</th>
          </tr>
        </thead>
        <tbody>
          {b.versions.map((v) => (
            <tr data-binding-key={v.binding_key}>
              <td class="mono">{v.binding_key}</td>
              <td>
                <Badge
                  status={v.state === "active" ? "succeeded" : v.state === "draining" ? "running" : "cancelled"}
                  text={v.state}
                />
              </td>
              <td class="mono small">{v.spec.handler}</td>
              <td>
                <Time at={v.created_at} />
              </td>
              <td>
                <GateCell stats={props.stats.get(v.binding_key)} />
              </td>
              <td>
                <details>
                  <summary>spec</summary>
                  <Json value={v.spec} max={20_000} />
                </details>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function bindingRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/bindings", async (c) => {
    const api = c.get("api");
    const cursor = c.req.query("cursor") || undefined;
    const [list, stats] = await Promise.all([
      api.get<ListPage<BindingItem>>(apiPath("/v1/bindings", { limit: 100, cursor })),
      api.get<Stats>("/v1/stats?limit=500"),
    ]);
    const byKey = new Map(stats.ok ? stats.data.bindings.map((s) => [s.binding_key, s] as const) : []);
    const csrf = c.get("csrf") ?? "";
    const content = (
      <>
        {stats.ok ? (
          <p class="row small">
            <span class="badge tone-busy">{`${stats.data.in_flight} in flight`}</span>
            <span class="badge tone-busy">{`${stats.data.scheduled_retries} retries scheduled`}</span>
            <span class="badge tone-bad">{`DLQ depth ${stats.data.dlq_depth}`}</span>
          </p>
        ) : (
          <Failure what="live gate state" failure={stats} />
        )}
        {list.ok ? (
          list.data.items.length === 0 ? (
            <p class="muted">No bindings yet: create one with PUT /v1/bindings/:id.</p>
          ) : (
            list.data.items.map((b) => <BindingCard binding={b} stats={byKey} csrf={csrf} />)
          )
        ) : (
          <Failure what="bindings" failure={list} />
        )}
        {list.ok && list.data.next_cursor && (
          <p class="small">
            <a href={`/console/bindings?cursor=${encodeURIComponent(list.data.next_cursor)}`}>More →</a>
          </p>
        )}
      </>
    );
    const live = { id: "bindings-live", every: 5000, content, final: !list.ok };
    return render(c, {
      title: "Bindings",
      active: "bindings",
      live,
      body: (
        <>
          <div class="row spread">
            <h1>Bindings</h1>
            <a href="/console/preview">Preview a spec against stored events →</a>
          </div>
          <LiveBox live={live} />
        </>
      ),
    });
  });

  for (const action of ["pause", "resume"] as const) {
    app.post(`/console/bindings/:id/${action}`, async (c) => {
      const id = c.req.param("id");
      const back = returnTo(c, links.bindings());
      const res = await c.get("api").post<BindingItem>(`/v1/bindings/${v1(id)}/${action}`, {});
      if (!res.ok)
        return redirectWithFlash(c, back, { kind: "error", text: `Could not ${action} ${id}: ${res.message}` });
      return redirectWithFlash(c, back, {
        kind: "ok",
        text: action === "pause" ? `${id} paused: new dispatches are held.` : `${id} resumed.`,
      });
    });
  }
}
