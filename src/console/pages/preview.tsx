/**
 * Binding preview (SPEC 5.4): the operator pastes or edits a spec (or starts from a binding's active
 * one), picks a range of stored events and sees what the spec would have done with each, and the
 * summary. It calls `POST /v1/bindings:preview`, which has no side effects.
 */
import type { Hono } from "hono";
import type { Child } from "hono/jsx";
import { PREVIEW_OUTCOMES, type PreviewAnswer } from "../../contracts/binding-preview";
import { type ConsoleEnv, field, render } from "../context";
import { Badge, Csrf, Failure, Time } from "../layout";
import { v1 } from "../links";
import type { BindingItem } from "../views";

const HOME = "/console/preview";

const TEMPLATE = {
  provider: "github",
  events: ["issues.opened"],
  handler: "https://example.com/hooks/triage",
  flow_control: { rate_limit: { key: "event.payload.repository.full_name", period: "1m", max: 30 } },
};

interface FormValues {
  spec: string;
  since?: string | undefined;
  until?: string | undefined;
  limit?: string | undefined;
  assume?: string | undefined;
}

const TONE: Record<string, string> = {
  dispatch: "succeeded",
  skipped: "skipped",
  merged: "skipped",
  waits: "held",
  needs_approval: "waiting",
  unknown: "pending",
  no_match: "none",
};

function PreviewForm(props: { values: FormValues; csrf: string }) {
  const v = props.values;
  return (
    <form method="post" action={HOME} data-busy="1" class="preview">
      <Csrf token={props.csrf} />
      <label>
        Binding spec (JSON, as for PUT /v1/bindings/:id)
        <textarea name="spec" rows={16} spellcheck={false}>
          {v.spec}
        </textarea>
      </label>
      <div class="filters">
        <label>
          Since (RFC 3339)
          <input name="since" value={v.since ?? ""} placeholder="2026-12-05T00:00:00Z" />
        </label>
        <label>
          Until
          <input name="until" value={v.until ?? ""} placeholder="now" />
        </label>
        <label>
          Events (≤ 1000)
          <input name="limit" type="number" min="1" max="1000" value={v.limit ?? "200"} />
        </label>
        <label>
          Assumed handler time (ms)
          <input name="assume_duration_ms" type="number" min="0" value={v.assume ?? "0"} />
        </label>
        <button type="submit" class="primary">
          Preview
        </button>
      </div>
    </form>
  );
}

function Results(props: { answer: PreviewAnswer }) {
  const { answer } = props;
  const counts = PREVIEW_OUTCOMES.map((o) => [o, answer.summary[o]] as const).filter(([, n]) => n > 0);
  return (
    <>
      <h2>{`${answer.evaluated} events scanned`}</h2>
      <p class="row small" data-preview-summary>
        {counts.map(([outcome, n]) => (
          <Badge status={TONE[outcome]} text={`${outcome} ${n}`} />
        ))}
        {Object.entries(answer.summary.skipped_by_reason).map(([reason, n]) => (
          <span class="badge">{`skipped: ${reason} ${n}`}</span>
        ))}
      </p>
      <table data-preview-items>
        <thead>
          <tr>
            <th>Received</th>
            <th>Event</th>
            <th>Kind</th>
            <th>Outcome</th>
            <th>Why</th>
          </tr>
        </thead>
        <tbody>
          {answer.items.map((item) => (
            <tr data-event-id={item.event_id} data-outcome={item.outcome}>
              <td class="small">
                <Time at={item.received_at} />
              </td>
              <td class="mono small">
                <a href={`/console/events/${encodeURIComponent(item.event_id)}`}>{item.event_id}</a>
              </td>
              <td class="small">{item.kind}</td>
              <td>
                <Badge status={TONE[item.outcome]} text={item.outcome} />
              </td>
              <td class="small">
                {[
                  item.stage,
                  item.reason,
                  item.limit_index === undefined ? null : `limit #${item.limit_index}`,
                  item.group ? `batch of ${item.group}` : null,
                ]
                  .filter(Boolean)
                  .join(" · ")}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

export function previewRoutes(app: Hono<ConsoleEnv>) {
  const page = (c: Parameters<typeof render>[0], values: FormValues, result: Child, status = 200) =>
    render(c, {
      title: "Preview a binding",
      active: "bindings",
      status,
      body: (
        <>
          <h1>Preview a binding</h1>
          <p class="muted small">
            Runs a spec against stored events, in the order they were received: nothing is dispatched, recorded or
            called. Flow control starts empty and runs on the events' own times.
          </p>
          <PreviewForm values={values} csrf={c.get("csrf") ?? ""} />
          {result}
        </>
      ),
    });

  app.get(HOME, async (c) => {
    const id = c.req.query("binding");
    let spec: unknown = TEMPLATE;
    let note: Child = null;
    if (id) {
      const res = await c.get("api").get<BindingItem>(`/v1/bindings/${v1(id)}`);
      const active = res.ok ? res.data.versions.find((v) => v.state === "active") : undefined;
      if (!res.ok) note = <Failure what={`binding ${id}`} failure={res} />;
      else if (active) spec = active.spec;
    }
    return page(c, { spec: JSON.stringify(spec, null, 2) }, note);
  });

  app.post(HOME, async (c) => {
    const values: FormValues = {
      spec: field(c, "spec") ?? "",
      since: field(c, "since"),
      until: field(c, "until"),
      limit: field(c, "limit"),
      assume: field(c, "assume_duration_ms"),
    };
    let spec: unknown;
    try {
      spec = JSON.parse(values.spec);
    } catch (error) {
      const message = `The spec is not JSON: ${error instanceof Error ? error.message : String(error)}`;
      return page(c, values, <Failure what="the preview" failure={{ status: 400, message }} />, 400);
    }
    const body = {
      spec,
      ...(values.since ? { since: values.since } : {}),
      ...(values.until ? { until: values.until } : {}),
      ...(values.limit ? { limit: Number(values.limit) } : {}),
      ...(values.assume ? { assume_duration_ms: Number(values.assume) } : {}),
    };
    const res = await c.get("api").post<PreviewAnswer>("/v1/bindings:preview", body);
    if (!res.ok) return page(c, values, <Failure what="the preview" failure={res} />, res.status);
    return page(c, values, <Results answer={res.data} />);
  });
}
