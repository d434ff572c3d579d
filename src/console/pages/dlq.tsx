/**
 * Dead-letter queue (SPEC 13.5): list with filters, single replay and resolve, and bulk replay in two
 * steps: a dry run that shows what would run, then a confirmation that runs it only if the set of
 * entries is still the one the operator saw.
 */
import type { Hono } from "hono";
import { ERROR_CLASSES } from "../../contracts/dlq";
import { apiPath } from "../api-client";
import { type ConsoleContext, type ConsoleEnv, field, redirectWithFlash, render, returnTo } from "../context";
import { Badge, Busy, Csrf, Failure, LiveBox, type Page, Time } from "../layout";
import { links, v1 } from "../links";
import type { BulkReplay, DlqItem, ListPage } from "../views";

interface BulkFilter {
  binding_id?: string;
  binding_key?: string;
  error_class?: string;
  since?: string;
}

function bulkFilterOf(get: (name: string) => string | undefined): BulkFilter {
  const f: BulkFilter = {};
  for (const name of ["binding_id", "binding_key", "error_class", "since"] as const) {
    const value = get(name)?.trim();
    if (value) f[name] = value;
  }
  return f;
}

const describeFilter = (f: BulkFilter) =>
  Object.entries(f)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ") || "no filter: every pending entry";

function FilterFields(props: { filter: BulkFilter }) {
  return (
    <>
      {Object.entries(props.filter).map(([name, value]) => (
        <input type="hidden" name={name} value={value} />
      ))}
    </>
  );
}

function DlqRows(props: { items: DlqItem[]; csrf: string; back: string }) {
  if (props.items.length === 0) {
    return (
      <tr>
        <td colspan={7} class="muted">
          No entries match.
        </td>
      </tr>
    );
  }
  return (
    <>
      {props.items.map((e) => (
        <tr data-dlq-id={e.id} data-state={e.state}>
          <td>
            <Time at={e.created_at} />
          </td>
          <td>
            <div class="mono small">{e.id}</div>
            <a class="mono small" href={links.event(e.event_id)}>
              {e.event_id}
            </a>
          </td>
          <td class="mono small">{e.binding_key}</td>
          <td>
            <div>{e.error_class}</div>
            <div class="small muted">{e.reason}</div>
          </td>
          <td class="small">
            {e.final_error}
            <div class="muted">{`${e.attempt_count} attempts`}</div>
          </td>
          <td>
            <Badge status={e.state === "pending" ? "dlq" : "resolved"} text={e.state} />
          </td>
          <td>
            {e.state === "pending" && (
              <div class="row">
                <form
                  class="inline"
                  method="post"
                  action={`/console/dlq/${encodeURIComponent(e.id)}/replay`}
                  data-confirm={`Replay ${e.id} on ${e.binding_key}?`}
                >
                  <Csrf token={props.csrf} />
                  <input type="hidden" name="return_to" value={props.back} />
                  <button type="submit" class="primary">
                    Replay
                  </button>
                </form>
                <form
                  class="inline"
                  method="post"
                  action={`/console/dlq/${encodeURIComponent(e.id)}/resolve`}
                  data-confirm={`Mark ${e.id} resolved without replaying it?`}
                >
                  <Csrf token={props.csrf} />
                  <input type="hidden" name="return_to" value={props.back} />
                  <button type="submit">Resolve</button>
                </form>
              </div>
            )}
          </td>
        </tr>
      ))}
    </>
  );
}

/** The dry-run result and the confirmation form (also shown again when the set changed). */
function bulkPreview(c: ConsoleContext, filter: BulkFilter, preview: BulkReplay, changed: boolean): Page {
  const csrf = c.get("csrf") ?? "";
  return {
    title: "Bulk replay",
    active: "dlq",
    status: changed ? 409 : 200,
    body: (
      <>
        <h1>Bulk replay</h1>
        {changed && (
          <div class="flash error" role="alert">
            The matching entries changed since the dry run. Review the new set and confirm again.
          </div>
        )}
        <div class="card">
          <p>
            <strong data-bulk-count={String(preview.count)}>{`${preview.count} pending entries`}</strong>
            {` would be replayed (dry run; filter: ${describeFilter(filter)}).`}
          </p>
          {preview.items.length > 0 && (
            <ul class="mono small" id="bulk-ids">
              {preview.items.map((id) => (
                <li>{id}</li>
              ))}
            </ul>
          )}
        </div>
        {preview.count > 0 ? (
          <form
            method="post"
            action="/console/dlq/bulk"
            data-busy={`Replaying ${preview.count} entries…`}
            data-confirm={`Replay ${preview.count} DLQ entries now?`}
          >
            <Csrf token={csrf} />
            <FilterFields filter={filter} />
            <input type="hidden" name="expected" value={preview.items.join(",")} />
            <div class="row">
              <label class="toggle">
                <input type="checkbox" name="retry" value="true" /> allow retries (default: one attempt each)
              </label>
            </div>
            <p class="row">
              <button type="submit" class="primary">
                {`Replay ${preview.count} entries`}
              </button>
              <a href={links.dlq({ ...filter })}>Cancel</a>
            </p>
          </form>
        ) : (
          <p>
            <a href={links.dlq({ ...filter })}>Back to the DLQ</a>
          </p>
        )}
        <Busy />
      </>
    ),
  };
}

export function dlqRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/dlq", async (c) => {
    const q = c.req.query();
    const filter = bulkFilterOf((n) => q[n]);
    const state = q.state?.trim() || undefined;
    const cursor = q.cursor || undefined;
    const res = await c.get("api").get<ListPage<DlqItem>>(apiPath("/v1/dlq", { ...filter, state, cursor, limit: 100 }));
    const back = links.dlq({ ...filter, state, cursor });
    const content = res.ok ? (
      <>
        <table>
          <thead>
            <tr>
              <th>Created</th>
              <th>Entry · event</th>
              <th>Binding</th>
              <th>Class · reason</th>
              <th>Final error</th>
              <th>State</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            <DlqRows items={res.data.items} csrf={c.get("csrf") ?? ""} back={back} />
          </tbody>
        </table>
        {res.data.next_cursor && (
          <p class="small">
            <a href={links.dlq({ ...filter, state, cursor: res.data.next_cursor })}>Older →</a>
          </p>
        )}
      </>
    ) : (
      <Failure what="the DLQ" failure={res} />
    );
    const live = { id: "dlq-live", every: 4000, content, final: cursor !== undefined || !res.ok };
    return render(c, {
      title: "DLQ",
      active: "dlq",
      live,
      body: (
        <>
          <div class="row spread">
            <h1>Dead-letter queue</h1>
            <a href={links.dlqBulk({ ...filter })}>Bulk replay…</a>
          </div>
          <form class="filters" method="get" action="/console/dlq">
            <label>
              Binding id
              <input name="binding_id" value={filter.binding_id ?? ""} />
            </label>
            <label>
              Binding key
              <input name="binding_key" value={filter.binding_key ?? ""} placeholder="id@v1" />
            </label>
            <label>
              Error class
              <select name="error_class">
                <option value="">any</option>
                {ERROR_CLASSES.map((e) => (
                  <option value={e} selected={e === filter.error_class}>
                    {e}
                  </option>
                ))}
              </select>
            </label>
            <label>
              State
              <select name="state">
                <option value="">any</option>
                <option value="pending" selected={state === "pending"}>
                  pending
                </option>
                <option value="resolved" selected={state === "resolved"}>
                  resolved
                </option>
              </select>
            </label>
            <label>
              Since (RFC 3339)
              <input name="since" value={filter.since ?? ""} placeholder="2026-01-01T00:00:00Z" />
            </label>
            <button type="submit">Filter</button>
            <a href="/console/dlq">Clear</a>
          </form>
          <LiveBox live={live} />
        </>
      ),
    });
  });

  // Step 1 of a bulk replay: the dry run (safe, so a GET).
  app.get("/console/dlq/bulk", async (c) => {
    const q = c.req.query();
    const filter = bulkFilterOf((n) => q[n]);
    const res = await c.get("api").post<BulkReplay>("/v1/dlq/replay", { filter, dry_run: true });
    if (!res.ok) {
      return render(c, {
        title: "Bulk replay",
        active: "dlq",
        body: (
          <>
            <h1>Bulk replay</h1>
            <Failure what="the dry run" failure={res} />
            <p>
              <a href={links.dlq({ ...filter })}>Back to the DLQ</a>
            </p>
          </>
        ),
      });
    }
    return render(c, bulkPreview(c, filter, res.data, false));
  });

  // Step 2: run it, unless the matching set differs from the one the operator confirmed.
  app.post("/console/dlq/bulk", async (c) => {
    const api = c.get("api");
    const filter = bulkFilterOf((n) => field(c, n));
    const back = links.dlq({ ...filter });
    const expected = (field(c, "expected") ?? "").split(",").filter(Boolean).sort();
    const dry = await api.post<BulkReplay>("/v1/dlq/replay", { filter, dry_run: true });
    if (!dry.ok) return redirectWithFlash(c, back, { kind: "error", text: `Bulk replay refused: ${dry.message}` });
    const now = [...dry.data.items].sort();
    if (now.length !== expected.length || now.some((id, i) => id !== expected[i])) {
      return render(c, bulkPreview(c, filter, dry.data, true));
    }
    const res = await api.post<BulkReplay>("/v1/dlq/replay", {
      filter,
      dry_run: false,
      retry: field(c, "retry") === "true",
    });
    if (!res.ok) return redirectWithFlash(c, back, { kind: "error", text: `Bulk replay failed: ${res.message}` });
    const shown = res.data.items.slice(0, 20).join(", ");
    const more = res.data.items.length > 20 ? ` and ${res.data.items.length - 20} more` : "";
    return redirectWithFlash(c, back, {
      kind: "ok",
      text: `Replayed ${res.data.count} DLQ entries: ${shown}${more}. Each becomes resolved when its replay succeeds.`,
    });
  });

  app.post("/console/dlq/:id/replay", async (c) => {
    const id = c.req.param("id");
    const back = returnTo(c, links.dlq());
    const res = await c.get("api").post(`/v1/dlq/${v1(id)}/replay`, {});
    if (!res.ok) return redirectWithFlash(c, back, { kind: "error", text: `Replay of ${id} refused: ${res.message}` });
    return redirectWithFlash(c, back, {
      kind: "ok",
      text: `Replay of ${id} started; the entry becomes resolved when the replay succeeds.`,
    });
  });

  app.post("/console/dlq/:id/resolve", async (c) => {
    const id = c.req.param("id");
    const back = returnTo(c, links.dlq());
    const res = await c.get("api").post(`/v1/dlq/${v1(id)}/resolve`, {});
    if (!res.ok) return redirectWithFlash(c, back, { kind: "error", text: `Resolve of ${id} refused: ${res.message}` });
    return redirectWithFlash(c, back, { kind: "ok", text: `${id} marked resolved.` });
  });
}
