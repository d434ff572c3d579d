/** Destination circuit breakers (`GET /v1/circuits`, SPEC 10), refreshed live. */
import type { Hono } from "hono";
import { type ConsoleEnv, render } from "../context";
import { Badge, Failure, LiveBox, Time } from "../layout";
import type { CircuitItem, ListPage } from "../views";

const TONE_OF_STATE = { closed: "succeeded", open: "failed", half_open: "running" } as const;

export function circuitRoutes(app: Hono<ConsoleEnv>) {
  app.get("/console/circuits", async (c) => {
    const res = await c.get("api").get<Omit<ListPage<CircuitItem>, "next_cursor">>("/v1/circuits");
    const content = res.ok ? (
      res.data.items.length === 0 ? (
        <p class="muted">No destinations yet: circuits appear for the handlers of bindings that can dispatch.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Destination</th>
              <th>State</th>
              <th class="num">Failures</th>
              <th>Opened</th>
              <th>Next probe</th>
            </tr>
          </thead>
          <tbody>
            {res.data.items.map((item) => (
              <tr data-destination={item.destination} data-state={item.state}>
                <td class="mono">{item.destination}</td>
                <td>
                  <Badge status={TONE_OF_STATE[item.state] ?? null} text={item.state} />
                </td>
                <td class="num">{item.failures}</td>
                <td>
                  <Time at={item.opened_at} />
                </td>
                <td>
                  <Time at={item.next_probe_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )
    ) : (
      <Failure what="circuits" failure={res} />
    );
    const live = { id: "circuits-live", every: 5000, content, final: !res.ok };
    return render(c, {
      title: "Circuits",
      active: "circuits",
      live,
      body: (
        <>
          <h1>Circuits</h1>
          <p class="muted small">One breaker per destination, shared by every binding that targets it.</p>
          <LiveBox live={live} />
        </>
      ),
    });
  });
}
