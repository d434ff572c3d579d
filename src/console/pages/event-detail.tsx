/**
 * One event: its payload, each binding's dispatch with attempts (`GET /v1/events/:id`,
 * `GET /v1/dispatches/:binding_key/:event_id`) and the timeline of its records in `seq` order
 * (`GET /v1/records?event_id=`). Replay and cancel are POST actions over the same API.
 */
import type { Hono } from "hono";
import { isTerminal } from "../../contracts/dispatch";
import { type ApiClient, type ApiResult, apiPath } from "../api-client";
import { type ConsoleEnv, field, redirectWithFlash, render, returnTo } from "../context";
import { Badge, Csrf, Failure, Json, LiveBox, Time } from "../layout";
import { links, v1 } from "../links";
import type { DispatchDetail, EventDetail, ListPage, Outcome, RecordItem } from "../views";

/** Records shown in one timeline; the API pages by `seq`. */
const TIMELINE_PAGES = 4;
const TIMELINE_PAGE_SIZE = 500;

async function loadTimeline(api: ApiClient, eventId: string) {
  const items: RecordItem[] = [];
  let after: string | null = null;
  for (let i = 0; i < TIMELINE_PAGES; i++) {
    const res: ApiResult<ListPage<RecordItem>> = await api.get<ListPage<RecordItem>>(
      apiPath("/v1/records", { event_id: eventId, limit: TIMELINE_PAGE_SIZE, after }),
    );
    if (!res.ok) return { ok: false as const, failure: res, items };
    items.push(...res.data.items);
    after = res.data.next_cursor;
    if (!after) return { ok: true as const, items, truncated: false };
  }
  return { ok: true as const, items, truncated: true };
}

function AttemptsTable(props: { detail: DispatchDetail }) {
  if (props.detail.attempts.length === 0) return <p class="muted small">No attempts yet.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th class="num">#</th>
          <th>Started</th>
          <th>Completed</th>
          <th>Outcome</th>
          <th class="num">HTTP</th>
          <th class="num">ms</th>
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        {props.detail.attempts.map((a) => (
          <tr>
            <td class="num">{a.attempt}</td>
            <td>
              <Time at={a.started_at} />
            </td>
            <td>
              <Time at={a.completed_at} />
            </td>
            <td>
              <Badge status={a.outcome} />
            </td>
            <td class="num">{a.status_code ?? ""}</td>
            <td class="num">{a.duration_ms ?? ""}</td>
            <td class="small">{a.error_msg ?? ""}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function DispatchCard(props: {
  outcome: Outcome;
  detail: DispatchDetail | null;
  detailError: string | null;
  csrf: string;
  back: string;
}) {
  const d = props.outcome;
  return (
    <div class="card" data-dispatch={d.binding_key} data-status={d.status}>
      <div class="row spread">
        <div class="row">
          <strong class="mono">{d.binding_key}</strong>
          <Badge status={d.status} />
          {d.replay_of_event_id && <span class="badge tone-info">replay</span>}
          <span class="small muted">{`${d.handler_kind} → ${d.target_uri}`}</span>
        </div>
        {(!isTerminal(d.status) || d.status === "waiting") && (
          <form
            class="inline"
            method="post"
            action="/console/dispatches/cancel"
            data-confirm={`Cancel the dispatch ${d.binding_key} of this event?`}
          >
            <Csrf token={props.csrf} />
            <input type="hidden" name="binding_key" value={d.binding_key} />
            <input type="hidden" name="event_id" value={d.event_id} />
            <input type="hidden" name="return_to" value={props.back} />
            <button type="submit" class="danger">
              Cancel
            </button>
          </form>
        )}
      </div>
      <dl class="kv small">
        <dt>attempts</dt>
        <dd>{d.attempt_count}</dd>
        {d.error && (
          <>
            <dt>error</dt>
            <dd>{d.error_class ? `${d.error} (${d.error_class})` : d.error}</dd>
          </>
        )}
      </dl>
      {d.result !== null && d.result !== undefined && (
        <details>
          <summary>result</summary>
          <Json value={d.result} max={20_000} />
        </details>
      )}
      {props.detail ? (
        <AttemptsTable detail={props.detail} />
      ) : props.detailError ? (
        <p class="small muted">{`Attempts unavailable: ${props.detailError}`}</p>
      ) : (
        <p class="small muted">Attempts of a replay are in the timeline below.</p>
      )}
    </div>
  );
}

function Timeline(props: { items: RecordItem[]; truncated: boolean }) {
  return (
    <>
      <table>
        <thead>
          <tr>
            <th class="num">seq</th>
            <th>At</th>
            <th>Topic</th>
            <th>Kind</th>
            <th>Binding</th>
            <th>Payload</th>
          </tr>
        </thead>
        <tbody>
          {props.items.map((r) => (
            <tr data-kind={r.kind}>
              <td class="num mono">{r.seq}</td>
              <td>
                <Time at={r.at} />
              </td>
              <td class="small mono">{r.topic}</td>
              <td>{r.kind}</td>
              <td class="small mono">{r.binding_key ?? ""}</td>
              <td>
                <details>
                  <summary>payload</summary>
                  <Json value={r.payload} max={10_000} />
                </details>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.truncated && (
        <p class="small muted">{`Only the first ${TIMELINE_PAGES * TIMELINE_PAGE_SIZE} records are shown.`}</p>
      )}
    </>
  );
}

export function eventDetailRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/events/:id", async (c) => {
    const api = c.get("api");
    const id = c.req.param("id");
    const res = await api.get<EventDetail>(`/v1/events/${v1(id)}`);
    if (!res.ok) {
      return render(c, {
        title: "Event",
        active: "events",
        status: res.status === 404 ? 404 : 200,
        body: (
          <>
            <h1 class="mono">{id}</h1>
            <Failure what="the event" failure={res} />
          </>
        ),
      });
    }
    const { event, dispatches } = res.data;
    // Attempts: the detail route addresses the original dispatch of each (binding_key, event) pair.
    const originals = dispatches.filter((d) => d.replay_of_event_id === null);
    const details = new Map(
      await Promise.all(
        originals.map(async (d) => {
          const r = await api.get<DispatchDetail>(`/v1/dispatches/${v1(d.binding_key)}/${v1(d.event_id)}`);
          return [d.binding_key, r] as const;
        }),
      ),
    );
    const timeline = await loadTimeline(api, event.id);
    const back = links.event(event.id);
    const csrf = c.get("csrf") ?? "";
    const settled = dispatches.length > 0 && dispatches.every((d) => isTerminal(d.status));
    const live = {
      id: "event-live",
      every: 2000,
      final: settled,
      content: (
        <>
          <h2>{`Dispatches (${dispatches.length})`}</h2>
          {dispatches.length === 0 && <p class="muted">No binding has taken this event (yet).</p>}
          {dispatches.map((d) => {
            const r = d.replay_of_event_id === null ? details.get(d.binding_key) : undefined;
            return (
              <DispatchCard
                outcome={d}
                detail={r?.ok ? r.data : null}
                detailError={r && !r.ok ? r.message : null}
                csrf={csrf}
                back={back}
              />
            );
          })}
          <h2>Timeline</h2>
          {timeline.ok ? (
            <Timeline items={timeline.items} truncated={timeline.truncated} />
          ) : (
            <Failure what="the timeline" failure={timeline.failure} />
          )}
        </>
      ),
    };
    return render(c, {
      title: `Event ${event.id}`,
      active: "events",
      live,
      body: (
        <>
          <div class="row spread">
            <h1 class="mono">{event.id}</h1>
            <div class="row">
              <a href={links.trace(event.trace_id)}>Action graph</a>
              <form
                class="inline"
                method="post"
                action={`/console/events/${encodeURIComponent(event.id)}/replay`}
                data-confirm="Replay this event to every binding that dispatched it?"
              >
                <Csrf token={csrf} />
                <button type="submit">Replay</button>
              </form>
            </div>
          </div>
          <div class="card">
            <dl class="kv">
              <dt>provider · kind</dt>
              <dd>{`${event.provider} · ${event.kind}`}</dd>
              <dt>received</dt>
              <dd>
                <Time at={event.received_at} />
              </dd>
              <dt>occurred</dt>
              <dd>
                <Time at={event.occurred_at} />
              </dd>
              <dt>dedupe key</dt>
              <dd class="mono">{event.dedupe_key}</dd>
              <dt>trace</dt>
              <dd>
                <a class="mono" href={links.trace(event.trace_id)}>
                  {event.trace_id}
                </a>
              </dd>
              <dt>tenant</dt>
              <dd>{event.tenant_id ?? "—"}</dd>
              <dt>signature</dt>
              <dd>
                {event.signature_status.state === "failed"
                  ? `failed: ${event.signature_status.reason}`
                  : event.signature_status.state}
              </dd>
            </dl>
          </div>
          <h2>Payload</h2>
          <Json value={event.payload} />
          {Object.keys(event.headers).length > 0 && (
            <details>
              <summary>{`headers (${Object.keys(event.headers).length})`}</summary>
              <Json value={event.headers} max={20_000} />
            </details>
          )}
          <LiveBox live={live} />
        </>
      ),
    });
  });

  app.post("/console/events/:id/replay", async (c) => {
    const id = c.req.param("id");
    const back = returnTo(c, links.event(id));
    const res = await c.get("api").post<{ items: { binding_key: string }[] }>(`/v1/events/${v1(id)}/replay`, {});
    if (!res.ok) return redirectWithFlash(c, back, { kind: "error", text: `Replay refused: ${res.message}` });
    const keys = res.data.items.map((i) => i.binding_key).join(", ");
    return redirectWithFlash(c, back, { kind: "ok", text: `Replay started on ${keys || "no binding"}.` });
  });

  app.post("/console/dispatches/cancel", async (c) => {
    const bindingKey = field(c, "binding_key") ?? "";
    const eventId = field(c, "event_id") ?? "";
    const back = returnTo(c, links.event(eventId));
    const res = await c
      .get("api")
      .post<{ status: string }>(`/v1/dispatches/${v1(bindingKey)}/${v1(eventId)}/cancel`, { requested_by: "console" });
    if (!res.ok) return redirectWithFlash(c, back, { kind: "error", text: `Cancel refused: ${res.message}` });
    return redirectWithFlash(c, back, { kind: "ok", text: `Cancel of ${bindingKey} requested (${res.data.status}).` });
  });
}
