/**
 * Events: newest first, filtered by provider, kind and source (`GET /v1/events`) and by the status of
 * their dispatches (`GET /v1/dispatches?event_id=`), refreshed live on the first page.
 */
import type { Hono } from "hono";
import { dispatchStatusSchema } from "../../contracts/dispatch";
import { type ApiClient, apiPath } from "../api-client";
import { type ConsoleEnv, render } from "../context";
import { Badge, Failure, LiveBox, Time } from "../layout";
import { links } from "../links";
import type { ListPage, Outcome, TriggerEvent } from "../views";

const PAGE_SIZE = 50;
/** With a status filter, at most this many event pages are scanned per request. */
const STATUS_SCAN_PAGES = 4;

interface Row {
  event: TriggerEvent;
  dispatches: Outcome[] | null;
}

interface Filters {
  provider?: string;
  kind?: string;
  source?: string;
  status?: string;
  cursor?: string;
}

type Loaded =
  | { ok: true; rows: Row[]; next: string | null; scanned: number }
  | { ok: false; status: number; message: string };

async function dispatchesOf(api: ApiClient, eventId: string): Promise<Outcome[] | null> {
  const res = await api.get<ListPage<Outcome>>(apiPath("/v1/dispatches", { event_id: eventId, limit: 100 }));
  return res.ok ? res.data.items : null;
}

async function loadRows(api: ApiClient, f: Filters): Promise<Loaded> {
  const rows: Row[] = [];
  let cursor = f.cursor;
  let scanned = 0;
  for (let pageNo = 0; pageNo < (f.status ? STATUS_SCAN_PAGES : 1); pageNo++) {
    const res = await api.get<ListPage<TriggerEvent>>(
      apiPath("/v1/events", { limit: PAGE_SIZE, provider: f.provider, kind: f.kind, source: f.source, cursor }),
    );
    if (!res.ok) return res;
    scanned += res.data.items.length;
    const withDispatches = await Promise.all(
      res.data.items.map(async (event) => ({ event, dispatches: await dispatchesOf(api, event.id) })),
    );
    for (const row of withDispatches) {
      if (!f.status || row.dispatches?.some((d) => d.status === f.status)) rows.push(row);
    }
    cursor = res.data.next_cursor ?? undefined;
    if (!cursor || rows.length >= PAGE_SIZE) break;
  }
  return { ok: true, rows, next: cursor ?? null, scanned };
}

function EventRows(props: { rows: Row[] }) {
  if (props.rows.length === 0) {
    return (
      <tr>
        <td colspan={5} class="muted">
          No events match.
        </td>
      </tr>
    );
  }
  return (
    <>
      {props.rows.map(({ event, dispatches }) => (
        <tr data-event-id={event.id}>
          <td>
            <Time at={event.received_at} />
          </td>
          <td>
            <a class="mono" href={links.event(event.id)}>
              {event.id}
            </a>
          </td>
          <td>
            {event.provider}
            <div class="small muted">{event.kind}</div>
          </td>
          <td>
            {dispatches === null ? (
              <span class="muted">could not load dispatches</span>
            ) : dispatches.length === 0 ? (
              <span class="muted">none yet</span>
            ) : (
              <div class="row">
                {dispatches.map((d) => (
                  <span>
                    <span class="mono small">{d.binding_key}</span>{" "}
                    <Badge status={d.status} text={d.replay_of_event_id ? `${d.status} (replay)` : d.status} />
                  </span>
                ))}
              </div>
            )}
          </td>
          <td>
            <a class="mono small" href={links.trace(event.trace_id)}>
              graph
            </a>
          </td>
        </tr>
      ))}
    </>
  );
}

export function eventListRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/events", async (c) => {
    const q = c.req.query();
    const f: Filters = {
      provider: q.provider?.trim() || undefined,
      kind: q.kind?.trim() || undefined,
      source: q.source?.trim() || undefined,
      status: q.status?.trim() || undefined,
      cursor: q.cursor || undefined,
    };
    const badStatus = f.status !== undefined && !dispatchStatusSchema.safeParse(f.status).success;
    const loaded: Loaded = badStatus
      ? { ok: false, status: 400, message: `'${f.status}' is not a dispatch status` }
      : await loadRows(c.get("api"), f);
    const content = loaded.ok ? (
      <>
        <table>
          <thead>
            <tr>
              <th>Received</th>
              <th>Event</th>
              <th>Provider · kind</th>
              <th>Dispatches</th>
              <th>Trace</th>
            </tr>
          </thead>
          <tbody>
            <EventRows rows={loaded.rows} />
          </tbody>
        </table>
        <p class="row spread small muted">
          <span>
            {`${loaded.rows.length} shown`}
            {f.status ? ` (${loaded.scanned} events scanned for status ${f.status})` : ""}
          </span>
          {loaded.next && <a href={links.events({ ...f, cursor: loaded.next })}>Older →</a>}
        </p>
      </>
    ) : (
      <Failure what="events" failure={loaded} />
    );
    const live = { id: "events-live", every: 3000, content, final: f.cursor !== undefined || !loaded.ok };
    return render(c, {
      title: "Events",
      active: "events",
      live,
      body: (
        <>
          <h1>Events</h1>
          <form class="filters" method="get" action="/console/events">
            <label>
              Provider
              <input name="provider" value={f.provider ?? ""} placeholder="github" />
            </label>
            <label>
              Kind
              <input name="kind" value={f.kind ?? ""} placeholder="issues.opened" />
            </label>
            <label>
              Source
              <input name="source" value={f.source ?? ""} placeholder="github" />
            </label>
            <label>
              Dispatch status
              <select name="status">
                <option value="">any</option>
                {dispatchStatusSchema.options.map((s) => (
                  <option value={s} selected={s === f.status}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
            <button type="submit">Filter</button>
            <a href="/console/events">Clear</a>
          </form>
          <LiveBox live={live} />
        </>
      ),
    });
  });
}
